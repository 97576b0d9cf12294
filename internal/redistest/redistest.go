// Package redistest starts throwaway Redis servers, replicas and Prometheus
// Redis exporters on free loopback ports for tests, and stops them when the
// test ends. Nothing here is mocked: the binaries are the distribution's
// redis-server, redis-cli and prometheus-redis-exporter (or upstream's
// redis_exporter), installed by hack/ensure-redis.sh.
//
// A missing binary stops the test through internal/testenv: a failure
// under CI=true, a skip elsewhere. Every wait polls with a deadline; no
// helper sleeps a fixed time to assume readiness.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rollgate/rollgate/internal/testenv"
)

// Deadlines of the helpers.
const (
	// StartTimeout bounds how long Start waits for a server to answer.
	StartTimeout = 20 * time.Second
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	StopTimeout = 5 * time.Second
	// pollInterval is the pause between two readiness probes.
	pollInterval = 25 * time.Millisecond
)

// ExporterBinaries are the names under which the Redis exporter is looked
// up, in order: Debian's package name, then upstream's.
func ExporterBinaries() []string {
	return []string{"prometheus-redis-exporter", "redis_exporter"}
}

// NeedRedis stops the test (testenv rules) unless redis-server and
// redis-cli are on PATH.
func NeedRedis(t testing.TB) {
	t.Helper()
	testenv.Need(t, "redis-server", "redis-cli")
}

// NeedExporter stops the test (testenv rules) unless a Redis exporter is on
// PATH, and returns its path.
func NeedExporter(t testing.TB) string {
	t.Helper()
	for _, b := range ExporterBinaries() {
		if p, err := exec.LookPath(b); err == nil {
			return p
		}
	}
	testenv.Unavailable(t, "missing on PATH: "+strings.Join(ExporterBinaries(), " or ")+" (install with hack/ensure-redis.sh)")
	return ""
}

// Options describe a server to start.
type Options struct {
	// Args are extra redis-server arguments ("--replicaof", "127.0.0.1",
	// "6379"). They come after the helper's own, so they win.
	Args []string
	// Dir is the server's working directory (RDB files); empty means a new
	// t.TempDir().
	Dir string
	// Ready tells from the reply to PING whether the server is up; nil
	// means the reply is +PONG. Any reply at all (`-LOADING ...`) can be
	// accepted to start a server that is still loading.
	Ready func(reply string) bool
}

// Server is a redis-server process of a test.
type Server struct {
	// Port is the loopback port it listens on.
	Port int
	// Dir is its working directory; its log is Dir/redis.log.
	Dir string

	proc *process
}

// Start starts `redis-server` on a free loopback port with persistence off
// (`--save "" --appendonly no`), waits until PING answers PONG, and stops
// it when the test ends. args are extra redis-server arguments.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	return StartWith(t, Options{Args: args})
}

// StartWith starts a server as Options say; see Start.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	NeedRedis(t)
	dir := o.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	ready := o.Ready
	if ready == nil {
		ready = func(r string) bool { return r == "+PONG" }
	}
	var lastErr error
	for try := 0; try < 3; try++ { // a free port can be taken before we bind it
		port := FreePort(t)
		args := append([]string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir,
			"--daemonize", "no", "--logfile", "",
		}, o.Args...)
		p, err := startProcess(t, filepath.Join(dir, "redis.log"), "redis-server", args...)
		if err != nil {
			t.Fatalf("redistest: start redis-server: %v", err)
		}
		s := &Server{Port: port, Dir: dir, proc: p}
		t.Cleanup(func() { s.proc.stop() })
		lastErr = waitFor(p, StartTimeout, func(ctx context.Context) error {
			reply, err := Command(ctx, s.Addr(), "PING")
			if err != nil {
				return err
			}
			if !ready(reply) {
				return fmt.Errorf("PING answered %q", reply)
			}
			return nil
		})
		if lastErr == nil {
			return s
		}
		s.proc.stop()
		if !strings.Contains(p.logTail(), "Address already in use") {
			break
		}
	}
	t.Fatalf("redistest: redis-server did not become ready: %v", lastErr)
	return nil
}

// StartReplica starts a server replicating master and waits until its link
// to the master is up.
func StartReplica(t testing.TB, master *Server, args ...string) *Server {
	t.Helper()
	r := Start(t, append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port)}, args...)...)
	r.WaitLink(t, "up")
	return r
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Do sends one command and returns its reply (see Command); a transport
// error fails the test.
func (s *Server) Do(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	r, err := Command(ctx, s.Addr(), args...)
	if err != nil {
		t.Fatalf("redistest: %s %q: %v", s.Addr(), args, err)
	}
	return r
}

// Stop stops the server (SIGTERM, then SIGKILL after StopTimeout) and
// waits until it is gone. Stopping a stopped server does nothing.
func (s *Server) Stop() { s.proc.stop() }

// Running reports whether the process has not exited.
func (s *Server) Running() bool { return s.proc.running() }

// Log returns the end of the server's log.
func (s *Server) Log() string { return s.proc.logTail() }

// Info returns the value of field in `INFO section`, "" when absent.
func (s *Server) Info(t testing.TB, section, field string) string {
	t.Helper()
	return InfoField(s.Do(t, "INFO", section), field)
}

// WaitLink polls `INFO replication` until master_link_status is status
// ("up" or "down"), failing the test after StartTimeout.
func (s *Server) WaitLink(t testing.TB, status string) {
	t.Helper()
	err := waitFor(s.proc, StartTimeout, func(ctx context.Context) error {
		info, err := Command(ctx, s.Addr(), "INFO", "replication")
		if err != nil {
			return err
		}
		if got := InfoField(info, "master_link_status"); got != status {
			return fmt.Errorf("master_link_status is %q", got)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: replica %s: waiting for master_link_status:%s: %v", s.Addr(), status, err)
	}
}

// InfoField returns the value of field in an INFO reply, "" when absent.
func InfoField(info, field string) string {
	for _, l := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && k == field {
			return v
		}
	}
	return ""
}

// CLIShim returns a directory holding a `redis-cli` script that runs the
// real redis-cli against 127.0.0.1:port (`-h 127.0.0.1 -p PORT "$@"`). Put
// it first on PATH, and the design's `redis-cli ping` reaches that server.
func CLIShim(t testing.TB, port int) string {
	t.Helper()
	real := testenv.Need(t, "redis-cli")[0]
	dir := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\nexec %s -h 127.0.0.1 -p %d \"$@\"\n", shellQuote(real), port)
	if err := os.WriteFile(filepath.Join(dir, "redis-cli"), []byte(script), 0o755); err != nil {
		t.Fatalf("redistest: write redis-cli shim: %v", err)
	}
	return dir
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Exporter is a Prometheus Redis exporter process of a test.
type Exporter struct {
	// Port is the loopback port its /metrics listens on.
	Port int

	proc *process
}

// StartExporter starts the Redis exporter for redis on a free loopback port,
// waits until /metrics answers 200, and stops it when the test ends.
func StartExporter(t testing.TB, redis *Server) *Exporter {
	t.Helper()
	bin := NeedExporter(t)
	dir := t.TempDir()
	var lastErr error
	for try := 0; try < 3; try++ {
		port := FreePort(t)
		p, err := startProcess(t, filepath.Join(dir, "exporter.log"), bin,
			"-redis.addr=redis://"+redis.Addr(),
			"-web.listen-address="+net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("redistest: start %s: %v", bin, err)
		}
		e := &Exporter{Port: port, proc: p}
		t.Cleanup(func() { e.proc.stop() })
		lastErr = waitFor(p, StartTimeout, func(ctx context.Context) error {
			code, err := httpStatus(ctx, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
			if err != nil {
				return err
			}
			if code != http.StatusOK {
				return fmt.Errorf("/metrics answered %d", code)
			}
			return nil
		})
		if lastErr == nil {
			return e
		}
		e.proc.stop()
		if !strings.Contains(p.logTail(), "address already in use") {
			break
		}
	}
	t.Fatalf("redistest: exporter did not become ready: %v", lastErr)
	return nil
}

// Stop stops the exporter and waits until it is gone.
func (e *Exporter) Stop() { e.proc.stop() }

// Log returns the end of the exporter's log.
func (e *Exporter) Log() string { return e.proc.logTail() }

func httpStatus(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Command sends one command to the server at addr over RESP and returns
// the reply as text: simple strings and errors keep their "+"/"-" prefix
// ("+PONG", "-LOADING Redis is loading..."), integers their ":", bulk
// strings are returned bare, nil as "" and arrays as their elements one per
// line.
func Command(ctx context.Context, addr string, args ...string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("redis %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return "", fmt.Errorf("redis %s: send %s: %w", addr, args[0], err)
	}
	r, err := readReply(bufio.NewReader(conn))
	if err != nil {
		return "", fmt.Errorf("redis %s: %s: %w", addr, args[0], err)
	}
	return r, nil
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read reply: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply line")
	}
	switch line[0] {
	case '+', '-', ':':
		return line, nil
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("read bulk: %w", err)
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad array length %q", line)
		}
		parts := make([]string, 0, max(n, 0))
		for i := 0; i < n; i++ {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("unknown reply %q", line)
}

// process is a child process in its own process group with its output in
// a log file.
type process struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

func startProcess(t testing.TB, logPath, bin string, args ...string) (*process, error) {
	t.Helper()
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	p := &process{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the process group (children such as a fork saving
// an RDB included), then SIGKILL after StopTimeout, and waits for the
// process to be reaped.
func (p *process) stop() {
	if !p.running() {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(StopTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
}

func (p *process) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	const n = 2000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// waitFor polls probe until it returns nil, the process exits, or timeout
// passes; the error says why it gave up and shows the log's end.
func waitFor(p *process, timeout time.Duration, probe func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		last = probe(ctx)
		cancel()
		if last == nil {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("process exited: %v; log:\n%s", last, p.logTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %v; log:\n%s", timeout, last, p.logTail())
		}
		select {
		case <-p.done:
		case <-time.After(pollInterval):
		}
	}
}
