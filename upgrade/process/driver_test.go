package process_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/process"
	"github.com/rollgate/rollgate/upgrade/upgradetest"
	"github.com/rollgate/rollgate/verify"
)

// The test binary doubles as the pod's program: with PROCESS_TEST_HELPER
// set it serves HTTP instead of running tests. Its role is the content of
// the file "role" in its directory; its readiness needs the file "ready"
// when started with mode "slowready".
const helperEnv = "PROCESS_TEST_HELPER"

const (
	appPort     = 8080
	metricsPort = 9100
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

func helper(mode string) int {
	switch mode {
	case "crash":
		fmt.Println("boom: cannot start")
		return 3
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
	}
	app := http.NewServeMux()
	app.HandleFunc("/role", func(w http.ResponseWriter, r *http.Request) {
		if mode == "slowready" {
			if _, err := os.Stat("ready"); err != nil {
				http.Error(w, "not ready", http.StatusServiceUnavailable)
				return
			}
		}
		b, _ := os.ReadFile("role")
		_, _ = w.Write(b)
	})
	metrics := http.NewServeMux()
	metrics.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "up 1\n")
	})
	errc := make(chan error, 2)
	for _, s := range []struct {
		port string
		h    http.Handler
	}{{os.Getenv("APP_PORT"), app}, {os.Getenv("METRICS_PORT"), metrics}} {
		l, err := net.Listen("tcp", "127.0.0.1:"+s.port)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		go func() { errc <- http.Serve(l, s.h) }()
	}
	term := make(chan os.Signal, 1)
	if mode != "stubborn" {
		signal.Notify(term, syscall.SIGTERM)
	}
	select {
	case <-term:
		return 0
	case err := <-errc:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
}

// recorder collects driver events.
type recorder struct {
	mu     sync.Mutex
	events []process.Event
}

func (r *recorder) add(e process.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) of(kind process.EventKind, pod string) []process.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []process.Event
	for _, e := range r.events {
		if e.Kind == kind && (pod == "" || e.Pod == pod) {
			out = append(out, e)
		}
	}
	return out
}

type fixture struct {
	d    *process.Driver
	rec  *recorder
	mode map[int32]string // helper mode per slot (default "serve")
	mu   sync.Mutex
}

func newFixture(t *testing.T, grace time.Duration) *fixture {
	t.Helper()
	f := &fixture{rec: &recorder{}, mode: map[int32]string{}}
	d, err := process.New(process.Config{
		Name:        "demo",
		Dir:         t.TempDir(),
		Ports:       []int32{appPort, metricsPort},
		DefaultPort: metricsPort,
		Grace:       grace,
		Spawn:       f.spawn,
		Probe:       probe,
		Failover:    failover,
		ExecEnv:     func(inst process.Instance) []string { return []string{"POD_NAME=" + inst.Name} },
		OnEvent:     f.rec.add,
	})
	require.NoError(t, err)
	f.d = d
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		assert.NoError(t, d.Close(ctx))
	})
	return f
}

func (f *fixture) setMode(index int32, mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode[index] = mode
}

func (f *fixture) spawn(_ context.Context, inst process.Instance, members []process.Member) ([]*exec.Cmd, error) {
	f.mu.Lock()
	mode := f.mode[inst.Index]
	f.mu.Unlock()
	if mode == "" {
		mode = "serve"
	}
	role := "primary"
	for _, m := range members {
		if m.Primary {
			role = "replica"
		}
	}
	if err := os.WriteFile(filepath.Join(inst.Dir, "role"), []byte(role), 0o644); err != nil {
		return nil, err
	}
	script := "#!/bin/sh\necho \"" + inst.Name + " $*\"\n"
	if err := os.WriteFile(filepath.Join(inst.BinDir, "whoami"), []byte(script), 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode,
		fmt.Sprintf("APP_PORT=%d", inst.Port(appPort)), fmt.Sprintf("METRICS_PORT=%d", inst.Port(metricsPort)))
	return []*exec.Cmd{cmd}, nil
}

func probe(ctx context.Context, inst process.Instance) (process.State, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+inst.Addr(appPort)+"/role", nil)
	if err != nil {
		return process.State{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return process.State{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return process.State{}, fmt.Errorf("probe: %s", resp.Status)
	}
	return process.State{Ready: true, Primary: string(b) == "primary"}, nil
}

func failover(_ context.Context, primary process.Member, others []process.Member) error {
	for _, o := range others {
		if o.Ready {
			if err := os.WriteFile(filepath.Join(primary.Dir, "role"), []byte("replica"), 0o644); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(o.Dir, "role"), []byte("primary"), 0o644)
		}
	}
	return errors.New("no ready replica")
}

// waitPods polls Pods until cond holds or the deadline passes.
func waitPods(t *testing.T, d *process.Driver, what string, cond func([]upgrade.Pod) bool) []upgrade.Pod {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var pods []upgrade.Pod
	for {
		var err error
		pods, err = d.Pods(context.Background())
		require.NoError(t, err)
		if cond(pods) {
			return pods
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; pods: %+v", what, pods)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func allReady(n int) func([]upgrade.Pod) bool {
	return func(pods []upgrade.Pod) bool {
		ready := 0
		for _, p := range pods {
			if p.Ready {
				ready++
			}
		}
		return len(pods) == n && ready == n
	}
}

func TestLifecycle(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	ctx := context.Background()
	require.NoError(t, f.d.Create(ctx, 0, "v1", false))
	waitPods(t, f.d, "slot 0 ready", allReady(1))
	require.NoError(t, f.d.Create(ctx, 1, "v1", false))
	pods := waitPods(t, f.d, "both ready", allReady(2))

	assert.Equal(t, int32(0), pods[0].Index)
	assert.True(t, pods[0].Primary, "slot 0 started first and holds the primary role")
	assert.False(t, pods[1].Primary)
	assert.NotEqual(t, pods[0].UID, pods[1].UID)
	assert.NotEqual(t, pods[0].Name, pods[1].Name)
	for _, p := range pods {
		assert.Equal(t, "v1", p.Version)
		assert.False(t, p.Created.IsZero())
		assert.Empty(t, p.Failed)
	}
	assert.Len(t, f.rec.of(process.EventReady, ""), 2, "one Ready event per pod")

	err := f.d.Create(ctx, 1, "v2", false)
	require.Error(t, err, "a slot with a running pod needs surge")
	assert.Contains(t, err.Error(), pods[1].Name)

	// Exec: BinDir first in PATH, ExecEnv, the pod's directory.
	out, err := f.d.Exec(ctx, pods[1].Target(), `whoami hello && echo "$POD_NAME" && cat role`)
	require.NoError(t, err)
	assert.Equal(t, pods[1].Name+" hello\n"+pods[1].Name+"\nreplica", out)
	_, err = f.d.Exec(ctx, pods[1].Target(), "echo oops >&2; exit 4")
	var exit *verify.ExitError
	require.ErrorAs(t, err, &exit, "a non-zero exit is a failed run, not an error of the access")
	assert.Equal(t, 4, exit.Code)
	assert.Contains(t, exit.Output, "oops")
	_, err = f.d.Exec(ctx, verify.Target{Name: "nope"}, "true")
	require.Error(t, err)

	// Get: port 0 is the default port; logical ports map to the pod's own.
	code, body, err := f.d.Get(ctx, pods[0].Target(), 0, "/metrics")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "up 1\n", string(body))
	code, body, err = f.d.Get(ctx, pods[0].Target(), appPort, "/role")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "primary", string(body))
	_, _, err = f.d.Get(ctx, pods[0].Target(), 1234, "/")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no port 1234")

	insts := f.d.Instances()
	require.Len(t, insts, 2)
	assert.Equal(t, pods[0].Name, insts[0].Name)
	assert.NotEqual(t, insts[0].Port(appPort), insts[1].Port(appPort))
}

func TestSurgeDeleteAndStaleUID(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	ctx := context.Background()
	require.NoError(t, f.d.Create(ctx, 0, "v1", false))
	old := waitPods(t, f.d, "slot 0 ready", allReady(1))[0]
	require.NoError(t, f.d.Create(ctx, 0, "v2", true))
	pods := waitPods(t, f.d, "surge pod ready", allReady(2))
	assert.Equal(t, []int32{0, 0}, []int32{pods[0].Index, pods[1].Index})
	assert.Equal(t, "v2", pods[1].Version)
	require.Error(t, f.d.Create(ctx, 0, "v3", true), "a slot holds at most two running pods")

	stale := old
	stale.UID = "someone-else"
	require.NoError(t, f.d.Delete(ctx, stale))
	pods, err := f.d.Pods(ctx)
	require.NoError(t, err)
	require.Len(t, pods, 2)
	assert.False(t, pods[0].Terminating, "a stale UID deletes nothing")

	require.NoError(t, f.d.Delete(ctx, old))
	require.NoError(t, f.d.Delete(ctx, old), "deleting a terminating pod is not an error")
	waitPods(t, f.d, "old pod gone", func(p []upgrade.Pod) bool { return len(p) == 1 && p[0].Name == pods[1].Name })
	require.NoError(t, f.d.Delete(ctx, old), "deleting a gone pod is not an error")

	stops := f.rec.of(process.EventStopping, old.Name)
	require.Len(t, stops, 1)
	assert.True(t, stops[0].Primary, "the stop recorded the role the pod held")
	assert.Len(t, f.rec.of(process.EventExited, old.Name), 1)
	assert.Empty(t, f.rec.of(process.EventKilled, old.Name), "SIGTERM was enough")

	// The slot is free again: a non-surge create works.
	require.NoError(t, f.d.Create(ctx, 1, "v2", false))
}

func TestFailover(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	ctx := context.Background()
	require.NoError(t, f.d.Create(ctx, 0, "v1", false))
	waitPods(t, f.d, "slot 0 ready", allReady(1))
	require.NoError(t, f.d.Create(ctx, 1, "v1", false))
	pods := waitPods(t, f.d, "both ready", allReady(2))
	require.True(t, pods[0].Primary)

	require.NoError(t, f.d.Failover(ctx, pods[1]), "a pod without the role needs no failover")
	assert.Empty(t, f.rec.of(process.EventFailover, ""))

	require.NoError(t, f.d.Failover(ctx, pods[0]))
	pods, err := f.d.Pods(ctx)
	require.NoError(t, err)
	assert.False(t, pods[0].Primary)
	assert.True(t, pods[1].Primary)
	assert.Len(t, f.rec.of(process.EventFailoverDone, pods[0].Name), 1)

	err = f.d.Failover(ctx, upgrade.Pod{Name: "demo-7-99"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "demo-7-99")
}

func TestStubbornProcessIsKilledAfterGrace(t *testing.T) {
	f := newFixture(t, 300*time.Millisecond)
	ctx := context.Background()
	f.setMode(0, "stubborn")
	require.NoError(t, f.d.Create(ctx, 0, "v1", false))
	pod := waitPods(t, f.d, "ready", allReady(1))[0]
	require.NoError(t, f.d.Delete(ctx, pod))
	pods, err := f.d.Pods(ctx)
	require.NoError(t, err)
	if len(pods) == 1 {
		assert.True(t, pods[0].Terminating)
		assert.False(t, pods[0].Ready, "a terminating pod is not ready")
	}
	waitPods(t, f.d, "pod gone", func(p []upgrade.Pod) bool { return len(p) == 0 })
	assert.Len(t, f.rec.of(process.EventKilled, pod.Name), 1)
}

func TestCrashIsFailed(t *testing.T) {
	f := newFixture(t, time.Second)
	ctx := context.Background()
	f.setMode(0, "crash")
	require.NoError(t, f.d.Create(ctx, 0, "v1", false))
	pods := waitPods(t, f.d, "failed", func(p []upgrade.Pod) bool { return len(p) == 1 && p[0].Failed != "" })
	assert.False(t, pods[0].Ready)
	assert.Contains(t, pods[0].Failed, "exit status 3")
	assert.Contains(t, pods[0].Failed, "boom: cannot start")
	assert.Len(t, f.rec.of(process.EventCrashed, pods[0].Name), 1)

	// A failed pod does not occupy its slot, and Delete removes it.
	f.setMode(0, "serve")
	require.NoError(t, f.d.Create(ctx, 0, "v1", false))
	require.NoError(t, f.d.Delete(ctx, pods[0]))
	waitPods(t, f.d, "failed pod removed", func(p []upgrade.Pod) bool { return len(p) == 1 && p[0].Name != pods[0].Name && p[0].Ready })
}

func TestNotReadyUntilProbePasses(t *testing.T) {
	f := newFixture(t, time.Second)
	ctx := context.Background()
	f.setMode(0, "slowready")
	require.NoError(t, f.d.Create(ctx, 0, "v1", false))
	insts := f.d.Instances()
	require.Len(t, insts, 1)
	// Listening but answering 503: not ready.
	waitPods(t, f.d, "listening", func([]upgrade.Pod) bool {
		c, err := net.Dial("tcp", insts[0].Addr(appPort))
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	pods, err := f.d.Pods(ctx)
	require.NoError(t, err)
	require.Len(t, pods, 1)
	assert.False(t, pods[0].Ready)
	require.NoError(t, os.WriteFile(filepath.Join(insts[0].Dir, "ready"), nil, 0o644))
	waitPods(t, f.d, "ready", allReady(1))
}

func TestNewValidates(t *testing.T) {
	spawn := func(context.Context, process.Instance, []process.Member) ([]*exec.Cmd, error) { return nil, nil }
	for name, cfg := range map[string]process.Config{
		"no name":      {Dir: t.TempDir(), Spawn: spawn, Probe: probe},
		"no dir":       {Name: "x", Spawn: spawn, Probe: probe},
		"no probe":     {Name: "x", Dir: t.TempDir(), Spawn: spawn},
		"repeated":     {Name: "x", Dir: t.TempDir(), Spawn: spawn, Probe: probe, Ports: []int32{1, 1}},
		"default port": {Name: "x", Dir: t.TempDir(), Spawn: spawn, Probe: probe, Ports: []int32{1}, DefaultPort: 2},
	} {
		_, err := process.New(cfg)
		assert.Error(t, err, name)
		if err != nil {
			assert.True(t, strings.HasPrefix(err.Error(), "process: "), name)
		}
	}
}

func TestCloseStopsEverything(t *testing.T) {
	f := newFixture(t, 300*time.Millisecond)
	ctx := context.Background()
	f.setMode(1, "stubborn")
	require.NoError(t, f.d.Create(ctx, 0, "v1", false))
	require.NoError(t, f.d.Create(ctx, 1, "v1", false))
	insts := f.d.Instances()
	waitPods(t, f.d, "ready", allReady(2))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, f.d.Close(cctx))
	assert.Empty(t, f.d.Instances())
	for _, in := range insts {
		c, err := net.DialTimeout("tcp", in.Addr(appPort), time.Second)
		if err == nil {
			_ = c.Close()
		}
		assert.Error(t, err, "%s still listens after Close", in.Name)
	}
	require.Error(t, f.d.Create(ctx, 2, "v1", false), "a closed driver creates nothing")
}

func TestConformance(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	ctx := context.Background()
	require.NoError(t, f.d.Create(ctx, 0, "v1", false))
	waitPods(t, f.d, "slot 0 ready", allReady(1))
	require.NoError(t, f.d.Create(ctx, 1, "v1", false))
	require.NoError(t, f.d.Create(ctx, 2, "v1", false))
	waitPods(t, f.d, "group ready", allReady(3))
	upgradetest.TestPodDriver(t, f.d, upgradetest.Harness{
		Replicas: 3, Version: "v1", NewVersion: "v2",
		Advance:  func() { time.Sleep(20 * time.Millisecond) },
		Attempts: 500,
	})
}

func TestWatchSignalsChanges(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := f.d.Watch(ctx, 10*time.Millisecond)
	require.NoError(t, f.d.Create(ctx, 0, "v1", false))
	deadline := time.After(15 * time.Second)
	for {
		select {
		case <-changes:
		case <-deadline:
			t.Fatal("no change signalled for the new pod becoming ready")
		}
		pods, err := f.d.Pods(ctx)
		require.NoError(t, err)
		if len(pods) == 1 && pods[0].Ready {
			return
		}
	}
}
