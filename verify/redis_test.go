//go:build unix

package verify_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/rollgate/rollgate/internal/redistest"
	"github.com/rollgate/rollgate/verify"
)

// These tests run the design's checks against real redis-server, redis-cli
// and Redis exporter processes on loopback ports (internal/redistest). Each
// "pod" is one local process; verify.Local reaches it: redis-cli through a
// PATH shim per target, HTTP through PortFor. Missing binaries fail the
// test under CI=true and skip it elsewhere.

// cliAccess returns a Local access whose target with index i reaches
// servers[i] with redis-cli.
func cliAccess(t *testing.T, servers ...*redistest.Server) verify.Local {
	t.Helper()
	shims := make([]string, len(servers))
	for i, s := range servers {
		shims[i] = redistest.CLIShim(t, s.Port)
	}
	path := os.Getenv("PATH")
	return verify.Local{EnvFor: func(t verify.Target) []string {
		return []string{"PATH=" + shims[t.Index] + ":" + path}
	}}
}

func mustNew(t *testing.T, c verify.Check, a verify.PodAccess) verify.Verifier {
	t.Helper()
	v, err := verify.New(c, a)
	if err != nil {
		t.Fatalf("verify.New: %v", err)
	}
	return v
}

func expectOutcome(t *testing.T, err error, want verify.Outcome, errHas ...string) {
	t.Helper()
	if got := verify.Classify(err); got != want {
		t.Fatalf("outcome %s, want %s (err: %v)", got, want, err)
	}
	for _, s := range errHas {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not contain %q", err, s)
		}
	}
}

// design 6.1: exec `redis-cli ping`, expected PONG.
func execPing() verify.Check {
	return verify.Check{Enabled: true, Type: verify.TypeExec, Command: "redis-cli ping", Expected: "PONG"}
}

func TestRedisExecPing(t *testing.T) {
	live := redistest.Start(t)
	stopped := redistest.Start(t)
	stopped.Stop()
	v := mustNew(t, execPing(), cliAccess(t, live, stopped))

	t.Run("live server passes", func(t *testing.T) {
		expectOutcome(t, v.Verify(context.Background(), verify.Target{Name: "redis-0", Index: 0, Ready: true}), verify.Passed)
	})
	t.Run("stopped server fails", func(t *testing.T) {
		// redis-cli cannot connect: it ran, and did not answer PONG.
		expectOutcome(t, v.Verify(context.Background(), verify.Target{Name: "redis-1", Index: 1}), verify.Failed,
			`pod "redis-1"`, "Could not connect", "PONG")
	})
}

func TestRedisExecPingWhileLoading(t *testing.T) {
	// A dataset whose loading is slowed down with the server's own
	// key-load-delay (microseconds per key, the knob Redis's test suite
	// uses for this): 20000 keys at 1ms load for 20s or more, and
	// loading-process-events-interval-bytes makes the server answer clients
	// (with -LOADING) while it loads. The test checks the server still
	// reports loading:1 after the verification, so the state it saw was
	// LOADING, deterministically.
	seed := redistest.Start(t, "--enable-debug-command", "local")
	if r := seed.Do(t, "DEBUG", "POPULATE", "20000", "key", "10"); r != "+OK" {
		t.Fatalf("DEBUG POPULATE: %s", r)
	}
	if r := seed.Do(t, "SAVE"); r != "+OK" {
		t.Fatalf("SAVE: %s", r)
	}
	seed.Stop()
	loading := redistest.StartWith(t, redistest.Options{
		Dir:   seed.Dir,
		Args:  []string{"--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024"},
		Ready: func(reply string) bool { return strings.HasPrefix(reply, "-LOADING") },
	})
	v := mustNew(t, execPing(), cliAccess(t, loading))
	err := v.Verify(context.Background(), verify.Target{Name: "redis-0", Ready: true})
	if got := loading.Info(t, "persistence", "loading"); got != "1" {
		t.Fatalf("the server was no longer loading (loading:%s); the test could not observe LOADING", got)
	}
	expectOutcome(t, err, verify.Failed, `does not contain "PONG"`, "LOADING Redis is loading the dataset in memory")
}

// design 5.2: custom `redis-cli INFO replication | grep master_link_status`,
// expected up.
func customLinkCheck() verify.Check {
	return verify.Check{Enabled: true, Type: verify.TypeCustom,
		Command:  "# 自定义检查命令\nredis-cli INFO replication | grep master_link_status\n",
		Expected: "up"}
}

func TestRedisCustomReplicationLink(t *testing.T) {
	master := redistest.Start(t)
	replica := redistest.StartReplica(t, master)
	v := mustNew(t, customLinkCheck(), cliAccess(t, master, replica))
	replicaTarget := verify.Target{Name: "redis-1", Index: 1, Ready: true}

	t.Run("synced replica passes", func(t *testing.T) {
		expectOutcome(t, v.Verify(context.Background(), replicaTarget), verify.Passed)
	})
	t.Run("master has no link: grep finds nothing", func(t *testing.T) {
		expectOutcome(t, v.Verify(context.Background(), verify.Target{Name: "redis-0", Index: 0, Ready: true}), verify.Failed,
			"exited with status 1")
	})
	t.Run("replica whose master is gone fails", func(t *testing.T) {
		master.Stop()
		replica.WaitLink(t, "down")
		expectOutcome(t, v.Verify(context.Background(), replicaTarget), verify.Failed,
			`does not contain "up"`, "master_link_status:down")
	})
}

func TestRedisMetricsThroughExporter(t *testing.T) {
	redis := redistest.Start(t)
	exporter := redistest.StartExporter(t, redis)
	// design 6.2; the exporter's port stands for the pod's 9121.
	check := verify.Check{Enabled: true, Type: verify.TypeMetrics, Port: 9121, Metrics: []verify.MetricCheck{
		{Name: "redis_up", Expected: "1"},
		{Name: "redis_connected_clients", Expected: ">0"},
	}}
	access := verify.Local{PortFor: func(_ verify.Target, port int32) int32 {
		if port == 9121 {
			return int32(exporter.Port)
		}
		return 0
	}}
	v := mustNew(t, check, access)
	target := verify.Target{Name: "redis-0", Ready: true}

	t.Run("live server passes", func(t *testing.T) {
		expectOutcome(t, v.Verify(context.Background(), target), verify.Passed)
	})
	t.Run("stopped server fails naming the metrics", func(t *testing.T) {
		redis.Stop()
		expectOutcome(t, v.Verify(context.Background(), target), verify.Failed,
			`metrics check failed on pod "redis-0"`, "redis_up is 0, want ==1", "no series matches redis_connected_clients")
	})
	t.Run("stopped exporter could not run", func(t *testing.T) {
		exporter.Stop()
		expectOutcome(t, v.Verify(context.Background(), target), verify.Errored, "connection refused")
	})
}
