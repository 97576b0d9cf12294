package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Target is the pod a check runs against.
type Target struct {
	Name    string
	Index   int32
	Version string
	Ready   bool
}

// Verifier runs one check against one pod. A nil error means the check
// passed. A check that ran and did not pass returns an error wrapping
// *FailedError; any other error means the check could not run (the pod could
// not be reached, the context ended...). See Classify.
type Verifier interface {
	Verify(ctx context.Context, t Target) error
}

// Func adapts a function to Verifier.
type Func func(ctx context.Context, t Target) error

// Verify calls f.
func (f Func) Verify(ctx context.Context, t Target) error { return f(ctx, t) }

// PodAccess is how checks reach into a pod. Implementations bound what they
// read (MaxBodyBytes, ReadBounded): longer answers are cut, not refused.
// Local is the implementation for processes on this machine.
type PodAccess interface {
	// Exec runs command as `sh -c command` in the pod and returns its
	// standard output. A non-zero exit is an *ExitError (the command ran);
	// when ctx ends first the error wraps ctx's error; any other error
	// means the command could not be run.
	Exec(ctx context.Context, t Target, command string) (stdout string, err error)
	// Get does an HTTP GET of path on the pod's port. port 0 means the
	// access's default port. Any status the pod answers is returned
	// without an error; err means no answer.
	Get(ctx context.Context, t Target, port int32, path string) (statusCode int, body []byte, err error)
}

// CheckType names a kind of check.
type CheckType string

// Check types of the design (sections 5 and 6).
const (
	TypeHealthCheck CheckType = "health-check"
	TypeCustom      CheckType = "custom"
	TypeExec        CheckType = "exec"
	TypeMetrics     CheckType = "metrics"
	TypeHTTP        CheckType = "http"
)

// Match chooses how exec and custom checks compare output with Expected.
type Match string

// Match modes; the default is MatchContains.
const (
	MatchContains Match = "contains"
	MatchExact    Match = "exact" // output, trimmed of surrounding space, equals Expected
	MatchRegex    Match = "regex" // Expected is a regular expression matched against the output
)

// Check is one preUpgradeCheck or postUpgradeVerify block of the design.
// JSON names are the design's.
type Check struct {
	Enabled bool      `json:"enabled,omitempty"`
	Type    CheckType `json:"type,omitempty"`
	// Command (exec, custom) runs as `sh -c command` in the pod.
	Command string `json:"command,omitempty"`
	// Expected (exec, custom) is what the output must contain (see Match).
	Expected Value `json:"expected,omitempty"`
	// Match (exec, custom): contains (default), exact or regex.
	Match Match `json:"match,omitempty"`
	// Metrics (metrics) lists the expectations, all of which must hold.
	Metrics []MetricCheck `json:"metrics,omitempty"`
	// Path (metrics) is the scrape path; default /metrics.
	Path string `json:"path,omitempty"`
	// Port (metrics, http) is the pod port; 0 means the access's default.
	Port int32 `json:"port,omitempty"`
	// Endpoint (http) is a path on the pod, such as /health; never a URL.
	Endpoint string `json:"endpoint,omitempty"`
	// ExpectedStatus (http) is the status code that passes; default 200.
	ExpectedStatus int32 `json:"expectedStatus,omitempty"`
	// Timeout bounds each attempt (default 30s; 10s for http). For a
	// pre-upgrade check it also bounds the whole gate: a check that has not
	// passed that long after the gate opened fails the pod.
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Interval is the pause between attempts (default 5s).
	Interval *metav1.Duration `json:"interval,omitempty"`
	// SuccessThreshold is how many consecutive passes are needed (default 1).
	SuccessThreshold int32 `json:"successThreshold,omitempty"`
	// FailureThreshold is how many consecutive failed runs make the pod
	// fail (default 3, as Kubernetes probes).
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
	// ErrorThreshold is how many consecutive attempts that could not run
	// make the pod fail (default 4, as Argo Rollouts' consecutiveErrorLimit).
	ErrorThreshold int32 `json:"errorThreshold,omitempty"`
}

// MetricCheck is one expectation of a metrics check: every series matching
// Name (a metric name with optional label matchers, `redis_up{role="master"}`)
// must satisfy Expected (`1`, `">0"`, `">=0.99"`, `"<5"`, `"<=5"`, `"!=0"`,
// `"==1"`).
type MetricCheck struct {
	Name     string `json:"name"`
	Expected Value  `json:"expected"`
}

// Value is a YAML/JSON scalar given either as a string or as a number
// (`expected: 1` and `expected: "1"` are the same). The text is kept as
// written.
type Value string

// UnmarshalJSON accepts a string, a number or a boolean.
func (v *Value) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*v = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = Value(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*v = Value(n.String())
		return nil
	}
	var t bool
	if err := json.Unmarshal(b, &t); err == nil {
		*v = Value(strconv.FormatBool(t))
		return nil
	}
	return fmt.Errorf("expected a string or a number, got %s", b)
}

// String returns the value's text.
func (v Value) String() string { return string(v) }
