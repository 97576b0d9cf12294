//go:build unix

package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLocalExec(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		local    Local
		target   Target
		command  string
		want     string
		wantCode int // -2: no ExitError expected
		outHas   string
	}{
		{name: "stdout", command: "echo PONG", want: "PONG\n", wantCode: -2},
		{name: "stderr is not stdout", command: "echo out; echo err >&2", want: "out\n", wantCode: -2},
		{name: "exit status with combined output", command: "echo out; echo oops >&2; exit 3", want: "out\n", wantCode: 3, outHas: "oops"},
		{name: "pipeline", command: "printf 'a\\nmaster_link_status:up\\n' | grep master_link_status", want: "master_link_status:up\n", wantCode: -2},
		{name: "pipeline that finds nothing", command: "echo a | grep b", wantCode: 1},
		{name: "dir", local: Local{Dir: dir}, command: "pwd", want: dir + "\n", wantCode: -2},
		{name: "env replaces", local: Local{Env: []string{"A=1"}}, command: `echo "$A-$HOME"`, want: "1-\n", wantCode: -2},
		{name: "env for target wins", local: Local{Env: []string{"A=1"}, EnvFor: func(t Target) []string { return []string{"A=" + t.Name} }},
			target: Target{Name: "redis-2"}, command: `echo "$A"`, want: "redis-2\n", wantCode: -2},
		{name: "command for target", local: Local{CommandFor: func(t Target, c string) string { return c + " " + strconv.Itoa(int(t.Index)) }},
			target: Target{Index: 7}, command: "echo slot", want: "slot 7\n", wantCode: -2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.local.Exec(context.Background(), tc.target, tc.command)
			var exit *ExitError
			if tc.wantCode == -2 {
				if err != nil {
					t.Fatalf("Exec(%q): %v", tc.command, err)
				}
			} else {
				if !errors.As(err, &exit) || exit.Code != tc.wantCode {
					t.Fatalf("Exec(%q): err %v, want *ExitError with code %d", tc.command, err, tc.wantCode)
				}
				if !strings.Contains(exit.Output, tc.outHas) {
					t.Errorf("ExitError output %q does not contain %q", exit.Output, tc.outHas)
				}
			}
			if out != tc.want {
				t.Errorf("stdout %q, want %q", out, tc.want)
			}
		})
	}
}

func TestLocalExecOutputBounded(t *testing.T) {
	out, err := Local{}.Exec(context.Background(), Target{}, "head -c 3000000 /dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != MaxBodyBytes {
		t.Fatalf("stdout is %d bytes, want it cut at %d", len(out), MaxBodyBytes)
	}
}

// TestLocalExecKillsProcessGroup: when the attempt's context ends, the shell
// and what it started are killed, and the error is the context's, not an
// exit.
func TestLocalExecKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Local{}.Exec(ctx, Target{Name: "p"}, "sleep 60 & echo $! > "+pidFile+"; wait")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want it to wrap context.DeadlineExceeded", err)
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		t.Fatalf("a cancelled command must not look like an exit: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Exec returned after %v", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the command did not start its child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d of the cancelled command is still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie does not count).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// Field 3, after the parenthesised command name, is the state.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

func portOf(t *testing.T, srv *httptest.Server) int32 {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return int32(p)
}

func TestLocalGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			fmt.Fprint(w, "ok")
		case "/redirect":
			http.Redirect(w, r, "/health", http.StatusFound)
		case "/echo":
			fmt.Fprint(w, r.URL.RawQuery)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	port := portOf(t, srv)
	for _, tc := range []struct {
		name     string
		local    Local
		port     int32
		path     string
		wantCode int
		wantBody string
		errHas   string
	}{
		{name: "default port", local: Local{Port: port}, path: "/health", wantCode: 200, wantBody: "ok"},
		{name: "requested port", local: Local{Port: 1}, port: port, path: "/health", wantCode: 200, wantBody: "ok"},
		{name: "port for target", local: Local{PortFor: func(Target, int32) int32 { return port }}, port: 9121, path: "/health", wantCode: 200, wantBody: "ok"},
		{name: "query kept", local: Local{Port: port}, path: "/echo?a=1", wantCode: 200, wantBody: "a=1"},
		{name: "redirect not followed", local: Local{Port: port}, path: "/redirect", wantCode: http.StatusFound},
		{name: "not found is a status", local: Local{Port: port}, path: "/nope", wantCode: 404, wantBody: "404 page not found\n"},
		{name: "no port", local: Local{}, path: "/health", errHas: "no port"},
		{name: "port out of range", local: Local{PortFor: func(Target, int32) int32 { return 70000 }}, path: "/health", errHas: "no port"},
		{name: "not a path", local: Local{Port: port}, path: "@evil.example/health", errHas: "not a path"},
		{name: "scheme-relative URL", local: Local{Port: port}, path: "//evil.example/health", errHas: "not a path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, err := tc.local.Get(context.Background(), Target{Name: "p"}, tc.port, tc.path)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("got %d, %v; want an error containing %q", code, err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || (tc.wantBody != "" && string(body) != tc.wantBody) {
				t.Errorf("got %d %q, want %d %q", code, body, tc.wantCode, tc.wantBody)
			}
		})
	}
}

// TestHTTPCheckAgainstServer runs the design's http check (6.3) through
// Local against a real loopback server.
func TestHTTPCheckAgainstServer(t *testing.T) {
	release := make(chan struct{})
	huge := bytes.Repeat([]byte("z"), 5<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			fmt.Fprint(w, "ok")
		case "/unavailable":
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "loading dataset")
		case "/huge":
			_, _ = w.Write(huge)
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: unblocks /slow before Close waits for it
	access := Local{Port: portOf(t, srv)}

	check := func(endpoint string, timeout time.Duration) Check {
		c := Check{Enabled: true, Type: TypeHTTP, Endpoint: endpoint, ExpectedStatus: 200}
		if timeout > 0 {
			c.Timeout = dur(timeout)
		}
		return c
	}
	for _, tc := range []struct {
		name       string
		check      Check
		want       Outcome
		errHas     []string
		isDeadline bool
	}{
		{name: "200 passes", check: check("/health", 0), want: Passed},
		{name: "503 fails with status and body", check: check("/unavailable", 0), want: Failed,
			errHas: []string{"returned status 503, want 200", `"loading dataset"`}},
		{name: "slow server times out", check: check("/slow", 200*time.Millisecond), want: Errored,
			errHas: []string{"no answer within 200ms"}, isDeadline: true},
		{name: "huge body still answers", check: check("/huge", 0), want: Passed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(tc.check, access)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = v.Verify(context.Background(), Target{Name: "web-0"})
			if got := Classify(err); got != tc.want {
				t.Fatalf("outcome %s, want %s (err: %v)", got, tc.want, err)
			}
			for _, s := range tc.errHas {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("error %v does not contain %q", err, s)
				}
			}
			if tc.isDeadline {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("a 200ms timeout took %v", d)
				}
			}
		})
	}

	t.Run("huge body is cut at MaxBodyBytes", func(t *testing.T) {
		code, body, err := access.Get(context.Background(), Target{}, 0, "/huge")
		if err != nil || code != 200 {
			t.Fatalf("Get: %d, %v", code, err)
		}
		if len(body) != MaxBodyBytes {
			t.Fatalf("body is %d bytes, want it cut at %d", len(body), MaxBodyBytes)
		}
	})
}

// TestMetricsCheckAgainstServer scrapes a loopback server through Local.
func TestMetricsCheckAgainstServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, redisExporterBody)
	}))
	t.Cleanup(srv.Close)
	access := Local{PortFor: func(Target, int32) int32 { return portOf(t, srv) }}
	for _, tc := range []struct {
		check Check
		want  Outcome
	}{
		{metrics("redis_up", "1", "redis_connected_clients", ">0"), Passed},
		{metrics("redis_up", "0"), Failed},
	} {
		tc.check.Port = 9121
		v, err := New(tc.check, access)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(context.Background(), pod); Classify(err) != tc.want {
			t.Errorf("%v: got %v, want %s", tc.check.Metrics, err, tc.want)
		}
	}
}
