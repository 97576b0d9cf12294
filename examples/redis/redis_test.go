package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollgate/rollgate/internal/testenv"
	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/process"
	"github.com/rollgate/rollgate/upgrade/upgradetest"
)

// These tests run real Redis servers: the two Debian builds unpacked under
// .cache/redis (fetched with hack/ensure-redis-debs.sh when missing, as
// `make test` does first) and the Debian prometheus-redis-exporter. Without
// them they skip, or fail under CI=true.

// tlog writes what it is given to the test log.
type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func needRedis(t *testing.T, method string) *members {
	t.Helper()
	testenv.Need(t, "prometheus-redis-exporter", "bash")
	m, err := setup(t.Context(), "", tlog{t}, defaultFrom, defaultTo)
	if err != nil {
		testenv.Unavailable(t, err.Error())
	}
	m.method = method
	return m
}

// play runs the scenario and logs its report (in full when the test
// failed).
func play(t *testing.T, s scenario) outcome {
	t.Helper()
	s.Dir = t.TempDir()
	s.WriteInterval = time.Millisecond
	s.Timeout = 50 * time.Second
	out, err := s.run(t.Context())
	var buf bytes.Buffer
	out.report(&buf, s)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(buf.String())
		}
	})
	require.NoError(t, err)
	t.Logf("%s: %d writes acknowledged, %d found, %d lost; longest gap %s; unavailable during failover %s; upgrade time %s for %d members",
		s.Name, out.Writes.Acked, out.Audit.Found, out.Audit.NLost, ms(out.Writes.MaxGap), ms(out.FailoverOutage.Gap()), out.UpgradeTime.Round(time.Millisecond), s.Replicas)
	return out
}

// assertNoWriteLost: every acknowledged write is on the primary, and the
// replicas hold as many keys.
func assertNoWriteLost(t *testing.T, out outcome) {
	t.Helper()
	assert.Greater(t, out.Writes.Acked, 0)
	assert.Equal(t, 0, out.Audit.NLost, "acknowledged writes lost: %v", out.Audit.Lost)
	assert.Equal(t, out.Writes.Acked, out.Audit.Found)
	assert.GreaterOrEqual(t, out.Audit.Counter, int64(out.Writes.Acked))
	keys := out.Writes.Acked + out.Audit.Extra + 1 // the numbered writes and the counter
	for addr, n := range out.Audit.Members {
		assert.Equal(t, keys, n, "keys on member %s", addr)
	}
}

// assertFailoverBeforeStop: the old primary gave up its role through
// Failover before its process was stopped, and no pod was stopped while
// primary during the upgrade.
func assertFailoverBeforeStop(t *testing.T, out outcome) {
	t.Helper()
	var moved *process.Event
	for i, e := range out.Events {
		if e.Kind == process.EventFailoverDone && e.Message == "role moved" {
			moved = &out.Events[i]
		}
	}
	require.NotNil(t, moved, "no failover moved the primary role")
	var stop *process.Event
	for i, e := range out.Events {
		if e.Kind == process.EventStopping && e.Pod == moved.Pod {
			stop = &out.Events[i]
		}
	}
	require.NotNil(t, stop, "the old primary %s was never stopped", moved.Pod)
	assert.True(t, moved.Time.Before(stop.Time), "failover done at %s, stop at %s", moved.Time, stop.Time)
	assert.False(t, stop.Primary, "the old primary %s still held the role when it was stopped", moved.Pod)
	for _, e := range out.Events {
		if e.Kind == process.EventStopping && !e.Time.After(out.UpgradeEnd) {
			assert.False(t, e.Primary, "pod %s was stopped while primary", e.Pod)
		}
	}
}

func assertGroupAt(t *testing.T, out outcome, replicas int32, version string) {
	t.Helper()
	require.Len(t, out.Pods, int(replicas))
	primaries := 0
	for _, p := range out.Pods {
		assert.Equal(t, version, p.Version, "pod %s", p.Name)
		assert.True(t, p.Ready, "pod %s ready", p.Name)
		if p.Primary {
			primaries++
		}
	}
	assert.Equal(t, 1, primaries, "one primary")
	assert.Equal(t, status.PhaseRunning, out.Status.Phase)
	assert.Equal(t, version, out.Status.CurrentVersion)
}

func TestUpgradeWhileWriting(t *testing.T) {
	s := scenario{Name: "upgrade", Replicas: 3, From: defaultFrom, To: defaultTo, FailSlot: -1, Members: needRedis(t, viaFailover)}
	out := play(t, s)
	assert.Empty(t, out.problems(s))
	assertNoWriteLost(t, out)
	assertFailoverBeforeStop(t, out)
	assertGroupAt(t, out, s.Replicas, s.To)
	require.NotNil(t, out.Status.UpgradeStatus)
	assert.Equal(t, status.UpgradeCompleted, out.Status.UpgradeStatus.Phase)
	assert.Positive(t, out.Writes.MaxGap, "the longest gap is reported")
}

func TestUpgradeWithReplicaofFailover(t *testing.T) {
	s := scenario{Name: "upgrade-replicaof", Replicas: 2, From: defaultFrom, To: defaultTo, FailSlot: -1, Members: needRedis(t, viaReplicaof)}
	out := play(t, s)
	assert.Empty(t, out.problems(s))
	assertNoWriteLost(t, out)
	assertFailoverBeforeStop(t, out)
	assertGroupAt(t, out, s.Replicas, s.To)
}

func TestRollbackAfterFailedVerification(t *testing.T) {
	s := scenario{Name: "rollback", Replicas: 3, From: defaultFrom, To: defaultTo, FailSlot: 2, Members: needRedis(t, viaFailover)}
	out := play(t, s)
	assert.Empty(t, out.problems(s))
	assertNoWriteLost(t, out)
	assertGroupAt(t, out, s.Replicas, s.From)
	require.NotNil(t, out.Status.UpgradeStatus)
	us := out.Status.UpgradeStatus
	assert.Equal(t, status.UpgradeRolledBack, us.Phase)
	assert.Equal(t, int32(1), out.Status.RollbackCount)
	require.NotEmpty(t, us.Failures)
	assert.Equal(t, int32(2), us.Failures[0].Index)
	assert.True(t, us.Failures[0].Recovered)
	assert.Contains(t, us.Failures[0].Error, "injected failure")
	// Slot 1 had been upgraded before slot 2 failed: it was rolled back too.
	created := map[int32][]string{}
	for _, e := range out.Events {
		if e.Kind == process.EventCreated {
			created[e.Index] = append(created[e.Index], e.Version)
		}
	}
	assert.Equal(t, []string{s.From, s.To, s.From}, created[1], "slot 1: started, upgraded, rolled back")
}

// TestRedisDriverConformance runs the driver conformance suite on a real
// Redis group.
func TestRedisDriverConformance(t *testing.T) {
	m := needRedis(t, viaFailover)
	d, err := process.New(m.config("redis", t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, d.Close(ctx))
	})
	ctx := t.Context()
	require.NoError(t, d.Create(ctx, 0, defaultFrom, false))
	require.NoError(t, waitReady(ctx, d, 1))
	require.NoError(t, d.Create(ctx, 1, defaultFrom, false))
	require.NoError(t, d.Create(ctx, 2, defaultFrom, false))
	require.NoError(t, waitReady(ctx, d, 3))

	// PodAccess: the design's check commands run against each instance.
	pods, err := d.Pods(ctx)
	require.NoError(t, err)
	for _, p := range pods {
		out, err := d.Exec(ctx, p.Target(), "redis-cli ping")
		require.NoError(t, err)
		assert.Equal(t, "PONG", strings.TrimSpace(out))
		out, err = d.Exec(ctx, p.Target(), "redis-cli INFO replication | grep role")
		require.NoError(t, err)
		if p.Primary {
			assert.Contains(t, out, "role:master")
		} else {
			assert.Contains(t, out, "role:slave")
		}
		code, body, err := d.Get(ctx, p.Target(), 0, "/metrics")
		require.NoError(t, err)
		assert.Equal(t, 200, code)
		assert.Contains(t, string(body), "redis_up 1")
	}

	upgradetest.TestPodDriver(t, d, upgradetest.Harness{
		Replicas: 3, Version: defaultFrom, NewVersion: defaultTo,
		Advance:  func() { time.Sleep(20 * time.Millisecond) },
		Attempts: 1000,
	})

	// The failover refuses when no replica's link is up.
	pods, err = d.Pods(ctx)
	require.NoError(t, err)
	var primary upgrade.Pod
	for _, p := range pods {
		if p.Primary {
			primary = p
		}
	}
	require.NotEmpty(t, primary.Name)
	for _, p := range pods {
		if !p.Primary {
			require.NoError(t, d.Delete(ctx, p))
		}
	}
	require.NoError(t, waitReady(ctx, d, 1))
	err = d.Failover(ctx, primary)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no replica")
}
