package verify

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// New builds the Verifier that c describes, reaching pods through access.
//
// The check is validated first (defaults need not be applied: New applies
// them to a copy); an invalid check is an error naming the offending field
// (`check.command: Required value`). A disabled check yields a Verifier that
// always passes. access may be nil only for a health-check, which never
// reaches into the pod.
//
// Each Verify call is one attempt, bounded by c.TimeoutOrDefault() as a
// context deadline. Retrying at c.IntervalOrDefault() and counting
// thresholds (c.Thresholds) is the caller's job; Classify tells it how to
// count an attempt. What the verifiers do:
//
//   - exec, custom: run Command through access.Exec. The check passes when
//     the command succeeds and its output contains Expected (Match contains,
//     the default), equals it once both are trimmed of surrounding space
//     (exact) or matches the regular expression (regex). An empty Expected
//     checks the exit status only. A non-zero exit (*ExitError) is a
//     failure; any other Exec error is an error.
//   - metrics: access.Get(Port, Path) and parse the Prometheus text
//     exposition (or OpenMetrics, recognised by its closing `# EOF` line).
//     Every series matching each MetricCheck's selector must satisfy its
//     expectation; a selector matching no series fails naming the metric.
//     Summaries and histograms are seen as their `_sum`, `_count`,
//     `_bucket{le=...}` and quantile series. A non-2xx answer or an
//     exposition that does not parse is an error (the check could not be
//     evaluated), not a failure. The exposition is read by a scanner that
//     checks every line as expfmt's text parser does but builds only the
//     series the rules can select, without allocating per line (a few
//     milliseconds and a few dozen allocations for 1 MiB); what it does
//     not vouch for — an invalid exposition, OpenMetrics-only syntax such
//     as exemplars, quoted UTF-8 names — is parsed by ParseExposition, so
//     samples, outcomes and messages are ParseExposition's either way
//     (series repeating one name and label set are listed in line order).
//   - http: access.Get(Port, Endpoint); passes when the status is
//     ExpectedStatus (default 200). Redirects are not followed by Local.
//   - health-check: passes when the target is Ready. This is the per-pod
//     form; the pre-upgrade gate of the design ("every pod of the group is
//     Ready") needs the whole group and is evaluated by the Upgrader, which
//     knows all pods.
//
// The Verifier keeps no state between attempts and is safe for concurrent
// use (as safe as access is).
//
// Timeouts: an attempt that hits its deadline is an error (Errored), never
// a failure, for every type: the check produced no answer. A pod that keeps
// timing out still fails once ErrorThreshold consecutive attempts errored.
func New(c Check, access PodAccess) (Verifier, error) {
	if errs := c.Validate(field.NewPath("check")); len(errs) > 0 {
		return nil, fmt.Errorf("invalid %s check: %w", checkName(c.Type), errs.ToAggregate())
	}
	if !c.Enabled {
		return Func(func(context.Context, Target) error { return nil }), nil
	}
	c.Default()
	if access == nil && c.Type != TypeHealthCheck {
		return nil, fmt.Errorf("a %s check needs a PodAccess to reach the pods, got nil", c.Type)
	}
	base := attempt{typ: c.Type, timeout: c.TimeoutOrDefault()}
	switch c.Type {
	case TypeHealthCheck:
		return healthVerifier{}, nil
	case TypeExec, TypeCustom:
		v := &execVerifier{attempt: base, access: access, command: c.Command, match: c.Match, expected: string(c.Expected)}
		if v.match == "" {
			v.match = MatchContains
		}
		if v.match == MatchRegex {
			re, err := regexp.Compile(v.expected)
			if err != nil { // Validate already refused it; kept for safety.
				return nil, fmt.Errorf("invalid %s check: check.expected: %w", c.Type, err)
			}
			v.re = re
		}
		return v, nil
	case TypeMetrics:
		v := &metricsVerifier{attempt: base, access: access, port: c.Port, path: c.Path}
		for i, m := range c.Metrics {
			sel, err := ParseSelector(m.Name)
			if err != nil {
				return nil, fmt.Errorf("invalid metrics check: check.metrics[%d].name: %w", i, err)
			}
			exp, err := ParseExpectation(string(m.Expected))
			if err != nil {
				return nil, fmt.Errorf("invalid metrics check: check.metrics[%d].expected: %w", i, err)
			}
			v.checks = append(v.checks, metricRule{sel: sel, exp: exp})
		}
		v.sel = newSelection(v.checks)
		return v, nil
	case TypeHTTP:
		return &httpVerifier{attempt: base, access: access, port: c.Port, endpoint: c.Endpoint, status: int(c.ExpectedStatus)}, nil
	}
	// Unreachable: Validate refuses other types.
	return nil, fmt.Errorf("invalid check: check.type: unsupported value %q", c.Type)
}

// attempt holds what every verifier that reaches the pod shares.
type attempt struct {
	typ     CheckType
	timeout time.Duration
}

// failed builds the FailedError of this check on t.
func (a attempt) failed(t Target, output, format string, args ...any) error {
	return &FailedError{Type: a.typ, Pod: t.Name, Reason: fmt.Sprintf(format, args...), Output: output}
}

// errored builds the error of an attempt that could not run. parent is the
// caller's context, ctx the attempt's.
func (a attempt) errored(parent, ctx context.Context, t Target, what string, err error) error {
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("%s check on pod %q could not run: %s: %w", a.typ, t.Name, what, context.Cause(parent))
	case ctx.Err() != nil:
		return fmt.Errorf("%s check on pod %q could not run: %s: no answer within %s: %w", a.typ, t.Name, what, a.timeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("%s check on pod %q could not run: %s: %w", a.typ, t.Name, what, err)
}

type healthVerifier struct{}

// Verify passes when t is Ready.
func (healthVerifier) Verify(_ context.Context, t Target) error {
	if t.Ready {
		return nil
	}
	return &FailedError{Type: TypeHealthCheck, Pod: t.Name, Reason: "pod is not ready"}
}

type execVerifier struct {
	attempt
	access   PodAccess
	command  string
	match    Match
	expected string
	re       *regexp.Regexp
}

// Verify runs the command and compares its output.
func (v *execVerifier) Verify(parent context.Context, t Target) error {
	ctx, cancel := context.WithTimeout(parent, v.timeout)
	defer cancel()
	out, err := v.access.Exec(ctx, t, v.command)
	if err != nil {
		var exit *ExitError
		if ctx.Err() == nil && errors.As(err, &exit) {
			output := exit.Output
			if strings.TrimSpace(output) == "" {
				output = out
			}
			return v.failed(t, Bound(output, MaxOutputInError), "command %q exited with status %d%s", oneLine(v.command), exit.Code, v.want())
		}
		return v.errored(parent, ctx, t, fmt.Sprintf("exec %q", oneLine(v.command)), err)
	}
	if v.expected == "" && v.match != MatchRegex {
		return nil
	}
	shown := Bound(out, MaxOutputInError)
	switch v.match {
	case MatchExact:
		if strings.TrimSpace(out) != strings.TrimSpace(v.expected) {
			return v.failed(t, shown, "output of %q is not exactly %q%s", oneLine(v.command), strings.TrimSpace(v.expected), emptyNote(out))
		}
	case MatchRegex:
		if !v.re.MatchString(out) {
			return v.failed(t, shown, "output of %q does not match /%s/%s", oneLine(v.command), v.expected, emptyNote(out))
		}
	default:
		want := strings.TrimSpace(v.expected)
		if !strings.Contains(out, want) {
			return v.failed(t, shown, "output of %q does not contain %q%s", oneLine(v.command), want, emptyNote(out))
		}
	}
	return nil
}

// want describes what the check expected, for the message of a failed
// exit: ` (want output containing "PONG")`.
func (v *execVerifier) want() string {
	switch {
	case v.match == MatchRegex:
		return fmt.Sprintf(" (want output matching /%s/)", v.expected)
	case strings.TrimSpace(v.expected) == "":
		return " (want exit status 0)"
	case v.match == MatchExact:
		return fmt.Sprintf(" (want output exactly %q)", strings.TrimSpace(v.expected))
	}
	return fmt.Sprintf(" (want output containing %q)", strings.TrimSpace(v.expected))
}

func emptyNote(out string) string {
	if strings.TrimSpace(out) == "" {
		return " (the output was empty)"
	}
	return ""
}

// oneLine shortens a command for messages: the design's commands are often
// multi-line YAML blocks with comments.
func oneLine(cmd string) string {
	var parts []string
	for _, l := range strings.Split(cmd, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			parts = append(parts, l)
		}
	}
	return Bound(strings.Join(parts, "; "), 200)
}

type httpVerifier struct {
	attempt
	access   PodAccess
	port     int32
	endpoint string
	status   int
}

// Verify gets the endpoint and compares the status.
func (v *httpVerifier) Verify(parent context.Context, t Target) error {
	ctx, cancel := context.WithTimeout(parent, v.timeout)
	defer cancel()
	code, body, err := v.access.Get(ctx, t, v.port, v.endpoint)
	if err != nil {
		return v.errored(parent, ctx, t, "GET "+portPath(v.port, v.endpoint), err)
	}
	if code != v.status {
		return v.failed(t, Bound(string(body), MaxBodyInError), "GET %s returned status %d, want %d", portPath(v.port, v.endpoint), code, v.status)
	}
	return nil
}

// portPath renders where a Get went: ":9121/metrics", or "/health" on the
// access's default port.
func portPath(port int32, path string) string {
	if port == 0 {
		return path
	}
	return fmt.Sprintf(":%d%s", port, path)
}
