package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeAccess is a PodAccess whose answers the test chooses. It records the
// last call.
type fakeAccess struct {
	exec func(ctx context.Context, t Target, command string) (string, error)
	get  func(ctx context.Context, t Target, port int32, path string) (int, []byte, error)

	mu       sync.Mutex
	command  string
	port     int32
	path     string
	deadline time.Duration
}

func (f *fakeAccess) record(ctx context.Context, command string, port int32, path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.command, f.port, f.path = command, port, path
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
}

func (f *fakeAccess) Exec(ctx context.Context, t Target, command string) (string, error) {
	f.record(ctx, command, 0, "")
	if f.exec == nil {
		return "", errors.New("fake: no exec")
	}
	return f.exec(ctx, t, command)
}

func (f *fakeAccess) Get(ctx context.Context, t Target, port int32, path string) (int, []byte, error) {
	f.record(ctx, "", port, path)
	if f.get == nil {
		return 0, nil, errors.New("fake: no get")
	}
	return f.get(ctx, t, port, path)
}

func output(s string) func(context.Context, Target, string) (string, error) {
	return func(context.Context, Target, string) (string, error) { return s, nil }
}

func exitWith(code int, out string) func(context.Context, Target, string) (string, error) {
	return func(context.Context, Target, string) (string, error) {
		return "", &ExitError{Code: code, Output: out}
	}
}

// blockExec waits for the attempt's context to end, as a hung command would.
func blockExec(ctx context.Context, _ Target, _ string) (string, error) {
	<-ctx.Done()
	return "", fmt.Errorf("fake exec: %w", ctx.Err())
}

func answer(code int, body string) func(context.Context, Target, int32, string) (int, []byte, error) {
	return func(context.Context, Target, int32, string) (int, []byte, error) { return code, []byte(body), nil }
}

func blockGet(ctx context.Context, _ Target, _ int32, _ string) (int, []byte, error) {
	<-ctx.Done()
	return 0, nil, fmt.Errorf("fake get: %w", ctx.Err())
}

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

var pod = Target{Name: "redis-0", Index: 0, Version: "7.4", Ready: true}

// outcomeCase is one attempt of a verifier and what must come of it.
type outcomeCase struct {
	name  string
	check Check
	fake  *fakeAccess
	// target defaults to pod.
	target *Target
	want   Outcome
	// errHas are substrings the error must contain.
	errHas []string
	// isDeadline: the error must wrap context.DeadlineExceeded.
	isDeadline bool
}

func runOutcomes(t *testing.T, cases []outcomeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(tc.check, tc.fake)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			target := pod
			if tc.target != nil {
				target = *tc.target
			}
			err = v.Verify(context.Background(), target)
			if got := Classify(err); got != tc.want {
				t.Fatalf("outcome %s, want %s (err: %v)", got, tc.want, err)
			}
			for _, s := range tc.errHas {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("error %v does not contain %q", err, s)
				}
			}
			if tc.isDeadline && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
			}
		})
	}
}

func TestExecVerifier(t *testing.T) {
	exec := func(cmd, expected string, m Match) Check {
		return Check{Enabled: true, Type: TypeExec, Command: cmd, Expected: Value(expected), Match: m}
	}
	long := strings.Repeat("x", 3000) + "END"
	runOutcomes(t, []outcomeCase{
		{name: "contains passes", check: exec("redis-cli ping", "PONG", ""), fake: &fakeAccess{exec: output("PONG\n")}, want: Passed},
		{name: "contains within more output", check: exec("info", "up", MatchContains), fake: &fakeAccess{exec: output("master_link_status:up\r\n")}, want: Passed},
		{name: "contains fails with what was expected and the output", check: exec("redis-cli ping", "PONG", ""),
			fake: &fakeAccess{exec: output("LOADING Redis is loading the dataset in memory\n")}, want: Failed,
			errHas: []string{`exec check failed on pod "redis-0"`, `does not contain "PONG"`, `"LOADING Redis is loading the dataset in memory"`}},
		{name: "empty output says so", check: exec("redis-cli ping", "PONG", ""), fake: &fakeAccess{exec: output("")}, want: Failed,
			errHas: []string{"output was empty"}},
		{name: "expected is trimmed", check: exec("redis-cli ping", "PONG\n", ""), fake: &fakeAccess{exec: output("PONG")}, want: Passed},
		{name: "numeric expected", check: exec("cat n", "1", ""), fake: &fakeAccess{exec: output("count=1\n")}, want: Passed},
		{name: "exact passes trimmed", check: exec("cat v", "up", MatchExact), fake: &fakeAccess{exec: output("  up\n")}, want: Passed},
		{name: "exact fails on extra text", check: exec("cat v", "up", MatchExact), fake: &fakeAccess{exec: output("up and running")}, want: Failed,
			errHas: []string{`not exactly "up"`, `"up and running"`}},
		{name: "regex passes", check: exec("redis-cli info", `connected_slaves:[1-9]`, MatchRegex), fake: &fakeAccess{exec: output("role:master\nconnected_slaves:2\n")}, want: Passed},
		{name: "regex fails", check: exec("redis-cli info", `connected_slaves:[1-9]`, MatchRegex), fake: &fakeAccess{exec: output("connected_slaves:0")}, want: Failed,
			errHas: []string{"does not match /connected_slaves:[1-9]/"}},
		{name: "empty expected checks the exit status only", check: exec("true", "", ""), fake: &fakeAccess{exec: output("anything")}, want: Passed},
		{name: "non-zero exit ran and failed", check: exec("redis-cli ping", "PONG", ""),
			fake: &fakeAccess{exec: exitWith(1, "Could not connect to Redis at 127.0.0.1:6379: Connection refused\n")}, want: Failed,
			errHas: []string{"exited with status 1", "Connection refused"}},
		{name: "non-zero exit fails even without expected", check: exec("false", "", ""), fake: &fakeAccess{exec: exitWith(2, "")}, want: Failed,
			errHas: []string{"status 2"}},
		{name: "wrapped exit error still counts as ran", check: exec("x", "", ""),
			fake: &fakeAccess{exec: func(context.Context, Target, string) (string, error) {
				return "", fmt.Errorf("kube exec: %w", &ExitError{Code: 137})
			}}, want: Failed},
		{name: "transport error could not run", check: exec("redis-cli ping", "PONG", ""),
			fake: &fakeAccess{exec: func(context.Context, Target, string) (string, error) {
				return "", errors.New("dial tcp: connection refused")
			}}, want: Errored, errHas: []string{`could not run`, `redis-0`, "connection refused"}},
		{name: "timeout could not run", check: Check{Enabled: true, Type: TypeExec, Command: "sleep 100", Timeout: dur(20 * time.Millisecond)},
			fake: &fakeAccess{exec: blockExec}, want: Errored, errHas: []string{"no answer within 20ms"}, isDeadline: true},
		{name: "exit error after the deadline is a timeout", check: Check{Enabled: true, Type: TypeExec, Command: "sleep 100", Timeout: dur(20 * time.Millisecond)},
			fake: &fakeAccess{exec: func(ctx context.Context, _ Target, _ string) (string, error) {
				<-ctx.Done()
				return "", &ExitError{Code: -1}
			}}, want: Errored, isDeadline: true},
		{name: "custom check of the design", check: Check{Enabled: true, Type: TypeCustom,
			Command: "# 自定义检查命令\nredis-cli INFO replication | grep master_link_status\n", Expected: "up"},
			fake: &fakeAccess{exec: output("master_link_status:down\r\n")}, want: Failed,
			errHas: []string{`custom check failed`, `"redis-cli INFO replication | grep master_link_status"`, `"master_link_status:down"`}},
		{name: "long output is bounded", check: exec("yes", "PONG", ""), fake: &fakeAccess{exec: output(long)}, want: Failed,
			errHas: []string{"more bytes)"}},
	})
}

func TestExecOutputBounded(t *testing.T) {
	v, err := New(Check{Enabled: true, Type: TypeExec, Command: "x", Expected: "PONG"}, &fakeAccess{exec: output(strings.Repeat("é", 2000))})
	if err != nil {
		t.Fatal(err)
	}
	err = v.Verify(context.Background(), pod)
	var f *FailedError
	if !errors.As(err, &f) {
		t.Fatalf("want a *FailedError, got %v", err)
	}
	if f.Type != TypeExec || f.Pod != "redis-0" {
		t.Errorf("FailedError names %s on %q, want exec on redis-0", f.Type, f.Pod)
	}
	if len(f.Output) > MaxOutputInError+40 {
		t.Errorf("output is %d bytes, want at most about %d", len(f.Output), MaxOutputInError)
	}
	if !strings.HasPrefix(f.Output, "éé") || !strings.Contains(f.Output, "more bytes") {
		t.Errorf("output %q is not a marked cut of the command's output", f.Output)
	}
	if !utf8Valid(f.Output) {
		t.Errorf("output was cut inside a character: %q", f.Output)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestAttemptDeadline(t *testing.T) {
	for _, tc := range []struct {
		check Check
		want  time.Duration
	}{
		{Check{Enabled: true, Type: TypeExec, Command: "x"}, DefaultTimeout},
		{Check{Enabled: true, Type: TypeHTTP, Endpoint: "/health"}, DefaultHTTPTimeout},
		{Check{Enabled: true, Type: TypeMetrics, Metrics: []MetricCheck{{Name: "up", Expected: "1"}}, Timeout: dur(3 * time.Second)}, 3 * time.Second},
	} {
		f := &fakeAccess{exec: output(""), get: answer(200, "up 1\n")}
		v, err := New(tc.check, f)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(context.Background(), pod); err != nil {
			t.Fatalf("%s: %v", tc.check.Type, err)
		}
		if f.deadline <= 0 || f.deadline > tc.want || f.deadline < tc.want-time.Second {
			t.Errorf("%s: attempt deadline %v away, want about %v", tc.check.Type, f.deadline, tc.want)
		}
	}
}

func TestCallerContextEnded(t *testing.T) {
	v, err := New(Check{Enabled: true, Type: TypeExec, Command: "x"}, &fakeAccess{exec: blockExec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = v.Verify(ctx, pod)
	if Classify(err) != Errored || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: got %v (%s), want Errored wrapping context.Canceled", err, Classify(err))
	}
}

const redisExporterBody = `# HELP redis_up Information about the Redis instance
# TYPE redis_up gauge
redis_up 1
# HELP redis_connected_clients Redis connected clients
# TYPE redis_connected_clients gauge
redis_connected_clients 3
# TYPE redis_role gauge
redis_instance_up{role="master"} 1
redis_instance_up{role="replica"} 0
# TYPE redis_commands_total counter
redis_commands_total{cmd="get"} 10
redis_commands_total{cmd="set"} 0
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 0.2
rpc_duration_seconds{quantile="0.99"} 1.5
rpc_duration_seconds_sum 12
rpc_duration_seconds_count 40
# TYPE req_seconds histogram
req_seconds_bucket{le="0.1"} 3
req_seconds_bucket{le="1"} 9
req_seconds_bucket{le="+Inf"} 10
req_seconds_sum 4.5
req_seconds_count 10
untyped_thing{a="x"} NaN
`

func metrics(rules ...string) Check {
	c := Check{Enabled: true, Type: TypeMetrics}
	for i := 0; i+1 < len(rules); i += 2 {
		c.Metrics = append(c.Metrics, MetricCheck{Name: rules[i], Expected: Value(rules[i+1])})
	}
	return c
}

func TestMetricsVerifier(t *testing.T) {
	ok := func() *fakeAccess { return &fakeAccess{get: answer(200, redisExporterBody)} }
	runOutcomes(t, []outcomeCase{
		{name: "design 6.2 passes", check: metrics("redis_up", "1", "redis_connected_clients", ">0"), fake: ok(), want: Passed},
		{name: "quoted number", check: metrics("redis_up", "==1"), fake: ok(), want: Passed},
		{name: "value fails naming series and expectation", check: metrics("redis_up", "1", "redis_connected_clients", ">5"), fake: ok(), want: Failed,
			errHas: []string{"metrics check failed", "redis_connected_clients is 3, want >5"}},
		{name: "missing metric names it", check: metrics("redis_up", "1", "redis_master_link_up", "1"), fake: ok(), want: Failed,
			errHas: []string{"no series matches redis_master_link_up"}},
		{name: "all failing rules are reported", check: metrics("redis_up", "0", "nope", "1"), fake: ok(), want: Failed,
			errHas: []string{"redis_up is 1, want ==0", "no series matches nope"}},
		{name: "label matcher selects one series", check: metrics(`redis_instance_up{role="master"}`, "1"), fake: ok(), want: Passed},
		{name: "negative label matcher", check: metrics(`redis_instance_up{role!="master"}`, "1"), fake: ok(), want: Failed,
			errHas: []string{`redis_instance_up{role="replica"} is 0, want ==1`}},
		{name: "every matching series must hold", check: metrics("redis_instance_up", "1"), fake: ok(), want: Failed,
			errHas: []string{`role="replica"`}},
		{name: "label matcher matching nothing", check: metrics(`redis_instance_up{role="sentinel"}`, "1"), fake: ok(), want: Failed,
			errHas: []string{`no series matches redis_instance_up{role="sentinel"}`}},
		{name: "absent label equals empty", check: metrics(`redis_up{role=""}`, "1"), fake: ok(), want: Passed},
		{name: "counter", check: metrics(`redis_commands_total{cmd="get"}`, ">=10"), fake: ok(), want: Passed},
		{name: "counter not equal", check: metrics(`redis_commands_total`, "!=0"), fake: ok(), want: Failed, errHas: []string{`cmd="set"`}},
		{name: "summary quantile", check: metrics(`rpc_duration_seconds{quantile="0.99"}`, "<2"), fake: ok(), want: Passed},
		{name: "summary count and sum", check: metrics("rpc_duration_seconds_count", ">0", "rpc_duration_seconds_sum", "<=12"), fake: ok(), want: Passed},
		{name: "histogram bucket", check: metrics(`req_seconds_bucket{le="+Inf"}`, "10", `req_seconds_bucket{le="0.1"}`, "3"), fake: ok(), want: Passed},
		{name: "histogram count", check: metrics("req_seconds_count", ">=10"), fake: ok(), want: Passed},
		{name: "NaN never holds but !=", check: metrics("untyped_thing", ">=0"), fake: ok(), want: Failed, errHas: []string{"is NaN"}},
		{name: "OpenMetrics", check: metrics("foo_total", "3", `h_count{a="b"}`, "2"),
			fake: &fakeAccess{get: answer(200, "# TYPE foo counter\nfoo_total 3\n# TYPE h histogram\nh_bucket{a=\"b\",le=\"+Inf\"} 2\nh_count{a=\"b\"} 2\nh_sum{a=\"b\"} 1\n# EOF\n")}, want: Passed},
		{name: "OpenMetrics with exemplars and float timestamps", check: metrics("foo_total", "3", "bar", "<1"),
			fake: &fakeAccess{get: answer(200, "# TYPE foo counter\nfoo_total 3 # {trace_id=\"abc\"} 1 1.5e9\n# TYPE bar gauge\nbar 0.5 1520879607.789\n# EOF\n")}, want: Passed},
		{name: "non-2xx scrape could not run", check: metrics("redis_up", "1"), fake: &fakeAccess{get: answer(503, "exporter starting")}, want: Errored,
			errHas: []string{"status 503", "exporter starting", "/metrics"}},
		{name: "garbage could not run", check: metrics("redis_up", "1"), fake: &fakeAccess{get: answer(200, "<html>hello</html>\n")}, want: Errored,
			errHas: []string{"parse Prometheus text exposition"}},
		{name: "transport error could not run", check: metrics("redis_up", "1"),
			fake: &fakeAccess{get: func(context.Context, Target, int32, string) (int, []byte, error) {
				return 0, nil, errors.New("connection refused")
			}}, want: Errored, errHas: []string{"connection refused"}},
		{name: "timeout could not run", check: Check{Enabled: true, Type: TypeMetrics, Metrics: []MetricCheck{{Name: "up", Expected: "1"}}, Timeout: dur(20 * time.Millisecond)},
			fake: &fakeAccess{get: blockGet}, want: Errored, isDeadline: true},
		{name: "empty exposition has no series", check: metrics("redis_up", "1"), fake: &fakeAccess{get: answer(200, "")}, want: Failed,
			errHas: []string{"no series matches redis_up"}},
	})
}

func TestMetricsPortAndPath(t *testing.T) {
	for _, tc := range []struct {
		port     int32
		path     string
		wantPath string
	}{
		{0, "", DefaultMetricsPath},
		{9121, "/custom/metrics", "/custom/metrics"},
	} {
		c := metrics("redis_up", "1")
		c.Port, c.Path = tc.port, tc.path
		f := &fakeAccess{get: answer(200, "redis_up 1\n")}
		v, err := New(c, f)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
		if f.port != tc.port || f.path != tc.wantPath {
			t.Errorf("scraped port %d path %q, want %d %q", f.port, f.path, tc.port, tc.wantPath)
		}
	}
}

func TestParseExposition(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   string
		want   []string // Sample.String() = value, in order
		errHas string
	}{
		{name: "text", body: "a 1\nb{x=\"y\"} 2\n", want: []string{"a=1", `b{x="y"}=2`}},
		{name: "UTF-8 names", body: "{\"my.metric\",x=\"y\"} 2\n", want: []string{`my.metric{x="y"}=2`}},
		{name: "text without final newline", body: "a 1", errHas: "parse Prometheus text exposition"},
		{name: "OpenMetrics fast path", body: "# TYPE a gauge\n# UNIT a seconds\na 1\n# EOF\n", want: []string{"a=1"}},
		{name: "OpenMetrics exact parser", body: "# TYPE a counter\na_total 1 # {t=\"1\"} 1\n# EOF", want: []string{"a_total=1"}},
		{name: "broken OpenMetrics", body: "# TYPE a counter\na_total one\n# EOF\n", errHas: "parse OpenMetrics exposition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseExposition([]byte(tc.body))
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var seen []string
			for _, s := range got {
				seen = append(seen, s.String()+"="+formatValue(s.Value))
			}
			if strings.Join(seen, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got %q, want %q", seen, tc.want)
			}
		})
	}
}

func TestParseExpositionCutBody(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < MaxBodyBytes+100; i++ {
		fmt.Fprintf(&b, "series_%d{pod=\"redis-0\"} %d\n", i, i)
	}
	body := []byte(b.String())[:MaxBodyBytes] // cut mid-line, as a bounded read does
	samples, err := ParseExposition(body)
	if err != nil {
		t.Fatalf("a body cut at MaxBodyBytes must parse without its partial last line: %v", err)
	}
	if len(samples) < 1000 || samples[0].Labels["pod"] != "redis-0" {
		t.Fatalf("got %d samples, first %v", len(samples), samples[0])
	}
}

func TestHTTPVerifierFake(t *testing.T) {
	runOutcomes(t, []outcomeCase{
		{name: "200 passes", check: Check{Enabled: true, Type: TypeHTTP, Endpoint: "/health"}, fake: &fakeAccess{get: answer(200, "ok")}, want: Passed},
		{name: "503 fails with status and body", check: Check{Enabled: true, Type: TypeHTTP, Endpoint: "/health"},
			fake: &fakeAccess{get: answer(503, "replication lagging\n")}, want: Failed,
			errHas: []string{`http check failed on pod "redis-0"`, "GET /health returned status 503, want 200", `"replication lagging"`}},
		{name: "expected status other than 200", check: Check{Enabled: true, Type: TypeHTTP, Endpoint: "/ready", ExpectedStatus: 204}, fake: &fakeAccess{get: answer(204, "")}, want: Passed},
		{name: "200 when 204 is wanted", check: Check{Enabled: true, Type: TypeHTTP, Endpoint: "/ready", ExpectedStatus: 204, Port: 8080}, fake: &fakeAccess{get: answer(200, "")}, want: Failed,
			errHas: []string{"GET :8080/ready returned status 200, want 204"}},
		{name: "body in error is bounded", check: Check{Enabled: true, Type: TypeHTTP, Endpoint: "/health"}, fake: &fakeAccess{get: answer(500, strings.Repeat("z", 10000))}, want: Failed,
			errHas: []string{"more bytes)"}},
		{name: "unreachable could not run", check: Check{Enabled: true, Type: TypeHTTP, Endpoint: "/health"},
			fake: &fakeAccess{get: func(context.Context, Target, int32, string) (int, []byte, error) {
				return 0, nil, errors.New("connection refused")
			}}, want: Errored, errHas: []string{"could not run", "connection refused"}},
		{name: "timeout could not run", check: Check{Enabled: true, Type: TypeHTTP, Endpoint: "/health", Timeout: dur(20 * time.Millisecond)},
			fake: &fakeAccess{get: blockGet}, want: Errored, isDeadline: true},
	})
}

func TestHealthCheckVerifier(t *testing.T) {
	notReady := pod
	notReady.Ready = false
	hc := Check{Enabled: true, Type: TypeHealthCheck, Timeout: dur(30 * time.Second)}
	runOutcomes(t, []outcomeCase{
		{name: "ready passes", check: hc, want: Passed},
		{name: "not ready fails", check: hc, target: &notReady, want: Failed, errHas: []string{`health-check check failed on pod "redis-0": pod is not ready`}},
	})
	// A health-check never reaches into the pod: nil access is fine.
	if _, err := New(hc, nil); err != nil {
		t.Fatalf("health-check with nil access: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	f := &fakeAccess{}
	for _, tc := range []struct {
		name   string
		check  Check
		access PodAccess
		errHas string
	}{
		{"exec without command", Check{Enabled: true, Type: TypeExec}, f, "check.command"},
		{"unknown type", Check{Enabled: true, Type: "ping"}, f, "check.type"},
		{"no type", Check{Enabled: true}, f, "check.type"},
		{"bad regex", Check{Enabled: true, Type: TypeExec, Command: "x", Match: MatchRegex, Expected: "("}, f, "check.expected"},
		{"bad match", Check{Enabled: true, Type: TypeExec, Command: "x", Match: "fuzzy"}, f, "check.match"},
		{"metrics without metrics", Check{Enabled: true, Type: TypeMetrics}, f, "check.metrics"},
		{"bad expectation", metrics("redis_up", "about one"), f, "check.metrics[0].expected"},
		{"bad selector", metrics("redis up", "1"), f, "check.metrics[0].name"},
		{"http URL endpoint", Check{Enabled: true, Type: TypeHTTP, Endpoint: "http://evil.example/health"}, f, "check.endpoint"},
		{"bad status", Check{Enabled: true, Type: TypeHTTP, Endpoint: "/h", ExpectedStatus: 42}, f, "check.expectedStatus"},
		{"negative timeout", Check{Enabled: true, Type: TypeExec, Command: "x", Timeout: dur(-time.Second)}, f, "check.timeout"},
		{"nil access", Check{Enabled: true, Type: TypeExec, Command: "x"}, nil, "needs a PodAccess"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(tc.check, tc.access)
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("New: got %v, %v; want an error naming %q", v, err, tc.errHas)
			}
		})
	}
}

func TestDisabledCheckPasses(t *testing.T) {
	// Even an otherwise invalid check passes when disabled: Validate skips
	// it and the design treats it as absent.
	v, err := New(Check{Enabled: false, Type: TypeExec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	notReady := pod
	notReady.Ready = false
	if err := v.Verify(context.Background(), notReady); err != nil {
		t.Fatalf("disabled check: %v", err)
	}
}

func TestClassify(t *testing.T) {
	failed := &FailedError{Type: TypeExec, Pod: "p", Reason: "r"}
	for _, tc := range []struct {
		name string
		err  error
		want Outcome
	}{
		{"nil", nil, Passed},
		{"failed", failed, Failed},
		{"wrapped failed", fmt.Errorf("slot 2: %w", failed), Failed},
		{"joined failed", errors.Join(errors.New("x"), failed), Failed},
		{"plain", errors.New("connection refused"), Errored},
		{"deadline", context.DeadlineExceeded, Errored},
		{"exit error not through a verifier", &ExitError{Code: 1}, Errored},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify(%v) = %s, want %s", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&FailedError{Type: TypeExec, Pod: "redis-1", Reason: `output does not contain "PONG"`, Output: "LOADING"},
			`exec check failed on pod "redis-1": output does not contain "PONG"; output: "LOADING"`},
		{&FailedError{Type: TypeHealthCheck, Reason: "pod is not ready"}, `health-check check failed: pod is not ready`},
		{&FailedError{}, `verify check failed`},
		{&ExitError{Code: 1, Output: "Could not connect\n"}, `command exited with status 1: "Could not connect"`},
		{&ExitError{Code: -1}, `command was killed by a signal`},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestBound(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"  PONG\n", 10, "PONG"},
		{"abcdef", 3, "abc…(3 more bytes)"},
		{"ééé", 3, "é…(4 more bytes)"},
		{"abc", 0, "abc"},
		{"", 5, ""},
	} {
		if got := Bound(tc.in, tc.n); got != tc.want {
			t.Errorf("Bound(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestReadBounded(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int64
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 3, "hel"},
		{"hello", 0, ""},
		{"hello", -1, ""},
	} {
		got, err := ReadBounded(strings.NewReader(tc.in), tc.n)
		if err != nil || string(got) != tc.want {
			t.Errorf("ReadBounded(%q, %d) = %q, %v; want %q", tc.in, tc.n, got, err, tc.want)
		}
	}
	got, err := ReadBounded(&failingReader{data: "par"}, 100)
	if err == nil || string(got) != "par" {
		t.Errorf("read error: got %q, %v; want the partial data and an error", got, err)
	}
}

type failingReader struct{ data string }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, errors.New("connection reset")
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}
