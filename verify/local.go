package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Local is a PodAccess for pods that are processes on this machine: the
// examples and the real-server tests use it, one local process (a
// redis-server, an exporter, an HTTP server) per "pod".
//
// Exec runs `sh -c command` here, in Dir, with Env followed by EnvFor(t).
// Standard output is returned; a non-zero exit is an *ExitError carrying
// the combined standard output and error. Both are bounded by MaxBodyBytes.
// When the context ends, the command's whole process group is killed and
// the error wraps the context's error (never an *ExitError).
//
// Get does `GET http://127.0.0.1:PORT/path` with a client bounded by the
// context, does not follow redirects (the first status counts) and reads at
// most MaxBodyBytes of the body.
//
// Per-target mapping lets each target reach its own process:
//
//   - PortFor maps (target, requested port) to the local port. The
//     requested port is the check's Port, 0 meaning "the default port".
//     Without PortFor, a requested port is used as it is and 0 means Port.
//   - EnvFor adds environment variables for a target (later entries win).
//   - CommandFor rewrites the command for a target.
//
// Tools without a port variable, such as redis-cli, are pointed at a
// target's own server by a PATH shim: a directory holding a `redis-cli`
// script that runs the real one with `-p PORT "$@"`, put first on PATH by
// EnvFor (internal/redistest.CLIShim builds one). The check's command stays
// the design's `redis-cli ping`.
//
// The zero Local is usable for Exec; Get needs a port from somewhere. Local
// has no state and is safe for concurrent use.
type Local struct {
	// Port is the default port of Get.
	Port int32
	// Env is the base environment of commands; nil means this process's
	// environment.
	Env []string
	// Dir is the working directory of commands; empty means this
	// process's.
	Dir string
	// PortFor, when set, gives the local port for a target and a requested
	// port (0 = the default port).
	PortFor func(t Target, port int32) int32
	// EnvFor, when set, gives environment variables added for a target.
	EnvFor func(t Target) []string
	// CommandFor, when set, rewrites the command run for a target.
	CommandFor func(t Target, command string) string
	// Client, when set, is used for Get instead of a fresh client without
	// keep-alives. Its timeout and redirect policy are its own.
	Client *http.Client
}

// killGrace is how long Exec waits for the command's output pipes to close
// after it killed the process group.
const killGrace = 2 * time.Second

// Exec runs command as `sh -c command` on this machine; see Local.
func (l Local) Exec(ctx context.Context, t Target, command string) (string, error) {
	if l.CommandFor != nil {
		command = l.CommandFor(t, command)
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = l.Dir
	env := l.Env
	if env == nil {
		env = os.Environ()
	}
	if l.EnvFor != nil {
		env = append(slices.Clip(env), l.EnvFor(t)...)
	}
	cmd.Env = env
	setProcessGroup(cmd)
	cmd.WaitDelay = killGrace
	stdout := &boundedBuffer{limit: MaxBodyBytes}
	combined := &boundedBuffer{limit: MaxBodyBytes}
	cmd.Stdout = io.MultiWriter(stdout, combined)
	cmd.Stderr = combined
	err := cmd.Run()
	if ctx.Err() != nil {
		return stdout.String(), fmt.Errorf("local exec on %q: %w", t.Name, context.Cause(ctx))
	}
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return stdout.String(), &ExitError{Code: exit.ExitCode(), Output: combined.String()}
		}
		return stdout.String(), fmt.Errorf("local exec on %q: %w", t.Name, err)
	}
	return stdout.String(), nil
}

// Get does an HTTP GET of path on 127.0.0.1 at the target's port; see
// Local.
func (l Local) Get(ctx context.Context, t Target, port int32, path string) (int, []byte, error) {
	p := port
	switch {
	case l.PortFor != nil:
		p = l.PortFor(t, port)
	case p == 0:
		p = l.Port
	}
	if p <= 0 || p > 65535 {
		return 0, nil, fmt.Errorf("local get on %q: no port to reach (requested %d, got %d)", t.Name, port, p)
	}
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
		return 0, nil, fmt.Errorf("local get on %q: %q is not a path starting with /", t.Name, path)
	}
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p))) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("local get on %q: %w", t.Name, err)
	}
	client := l.Client
	if client == nil {
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		client = &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("local get on %q: %w", t.Name, err)
	}
	defer resp.Body.Close()
	body, err := ReadBounded(resp.Body, MaxBodyBytes)
	if err != nil {
		return resp.StatusCode, body, fmt.Errorf("local get on %q: GET %s: body: %w", t.Name, url, err)
	}
	return resp.StatusCode, body, nil
}
