package upgradetest_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/upgradetest"
)

// The systematic crash test (Sieve's "crash between two writes", made
// exhaustive): for fixed scenarios, run once without faults and count every
// write the engine makes (driver Creates, Deletes and Failovers, and the
// status each Step returns for the caller to persist); then, for each write
// in turn, run the scenario again and crash right after it: the rest of
// that Step's calls never happen and its status is never persisted, and
// the next Step runs on a fresh Upgrader from the status persisted last.
// Every run must end in the same state as the fault-free run, with every
// invariant of upgradetest holding after every Step.
//
//	go test ./upgrade/upgradetest/ -run TestCrashAfterEveryWrite -v

type crashScenario struct {
	name     string
	replicas int32
	spec     string
	opts     []upgradetest.Option
	// setup injects the scenario's own (deterministic) faults.
	setup func(d *upgradetest.Driver)
	// next is called when the group settles; it may change the desired
	// state (lower the partition) and report that the run goes on.
	next func(r *crashRun) bool
}

var crashScenarios = []crashScenario{
	{name: "5 pods, surge 1", replicas: 5,
		spec: "rollingUpdate:\n  maxSurge: 1\n  maxUnavailable: 0\npostUpgradeVerify:\n  enabled: true\n  type: exec\n  command: redis-cli ping\n  expected: PONG\n"},
	{name: "5 pods, unavailable 2", replicas: 5,
		spec: "rollingUpdate:\n  maxSurge: 0\n  maxUnavailable: 2\npreUpgradeCheck:\n  enabled: true\n  type: health-check\n"},
	{name: "canary then promote", replicas: 5,
		spec: "rollingUpdate:\n  maxSurge: 1\n  maxUnavailable: 0\n  partition: 4\n",
		next: func(r *crashRun) bool {
			if us := r.st.UpgradeStatus; us != nil && us.Phase == status.UpgradePaused && r.partition() > 0 {
				r.setPartition(0)
				return true
			}
			return false
		}},
	{name: "failure with rollback", replicas: 5,
		spec: "rollingUpdate:\n  maxSurge: 1\n  maxUnavailable: 1\nrollback:\n  enabled: true\n  onFailure: true\n",
		setup: func(d *upgradetest.Driver) {
			d.FailPods(2, "v2", "CrashLoopBackOff", time.Second)
		}},
}

// crashRun is one run of a scenario, crashing at most once.
type crashRun struct {
	t        *testing.T
	sc       crashScenario
	clk      *clocktesting.FakeClock
	d        *upgradetest.Driver
	spec     upgrade.Spec
	st       *status.Status
	checker  *upgradetest.Checker
	podWrite int // pod writes so far
	statuses int // statuses returned so far
	// crashAfterPod / loseStatus: crash right after that pod write, or
	// before the caller persists that status (1-based; 0: never).
	crashAfterPod, loseStatus int
	dead                      bool // the process died in this Step
	crashes                   int
}

func newCrashRun(t *testing.T, sc crashScenario, crashAfterPod, loseStatus int) *crashRun {
	t.Helper()
	spec, err := upgrade.ParseSpec([]byte(sc.spec))
	if err != nil {
		t.Fatal(err)
	}
	r := &crashRun{t: t, sc: sc, spec: spec, st: &status.Status{CurrentVersion: "v1"},
		crashAfterPod: crashAfterPod, loseStatus: loseStatus,
		clk: clocktesting.NewFakeClock(time.Date(2025, 1, 19, 10, 0, 0, 0, time.UTC))}
	opts := append([]upgradetest.Option{
		upgradetest.WithName("redis"),
		upgradetest.WithReplicas(sc.replicas, "v1"),
		upgradetest.WithPrimary(1),
		upgradetest.WithStartDelay(func(i int32, _ string) time.Duration { return time.Duration(3+i%2) * time.Second }),
		upgradetest.WithTerminationDelay(func(upgrade.Pod) time.Duration { return 2 * time.Second }),
		upgradetest.WithFailoverDelay(time.Second),
	}, sc.opts...)
	r.d = upgradetest.NewDriver(r.clk, opts...)
	if sc.setup != nil {
		sc.setup(r.d)
	}
	r.d.PrependReactor(upgradetest.AnyAction, func(a upgradetest.Action) (bool, error) {
		if r.dead {
			return true, errCrash
		}
		switch a.Kind {
		case upgradetest.ActionCreate, upgradetest.ActionDelete, upgradetest.ActionFailover:
			r.podWrite++
			if r.podWrite == r.crashAfterPod {
				r.dead = true // this write goes through; nothing after it
			}
		}
		return false, nil
	})
	r.checker = upgradetest.NewChecker(spec, sc.replicas, "", "")
	return r
}

func (r *crashRun) partition() int32 {
	if p := r.spec.RollingUpdate.Partition; p != nil {
		return *p
	}
	return 0
}

func (r *crashRun) setPartition(p int32) {
	r.spec.RollingUpdate.Partition = &p
	r.checker.SetPartition(p)
}

// step runs one Step on a fresh Upgrader and persists its status unless
// the process died or the status write is the one lost.
func (r *crashRun) step() (upgrade.Result, bool) {
	r.t.Helper()
	u, err := upgrade.New(r.d, r.spec, upgrade.WithClock(r.clk), upgrade.WithPostUpgradeVerifier(r.d.Verifier()))
	if err != nil {
		r.t.Fatal(err)
	}
	st := r.st.DeepCopy()
	r.checker.Resume(st)
	res, err := u.Step(context.Background(), st, upgrade.Desired{Version: "v2", Replicas: r.sc.replicas})
	if err != nil && !driverError(err) {
		r.t.Fatalf("engine error: %v", err)
	}
	if err := r.checker.CheckStep(st, r.d); err != nil {
		r.t.Fatalf("%v\n%s", err, r.summary())
	}
	if err := r.checker.CheckStatus(st, r.d.Truth()); err != nil {
		r.t.Fatalf("%v\n%s", err, r.summary())
	}
	r.statuses++
	crashed := r.dead || r.statuses == r.loseStatus
	if crashed {
		r.dead = false
		r.crashes++
		return res, true
	}
	r.st = st
	return res, false
}

// run drives the scenario until it settles and stays settled.
func (r *crashRun) run() string {
	r.t.Helper()
	for range 2000 {
		res, crashed := r.step()
		if crashed {
			continue // the restarted controller steps at once
		}
		if res.Done && upgradetest.Settled(r.st) {
			if r.sc.next != nil && r.sc.next(r) {
				continue
			}
			return r.summary()
		}
		r.clk.Step(res.RequeueAfter)
	}
	r.t.Fatalf("not settled after 2000 Steps\n%s", r.summary())
	return ""
}

// summary is the end state runs are compared by: the pods (slot,
// version, readiness) and what the status says.
func (r *crashRun) summary() string {
	var pods []string
	for _, p := range r.d.Truth() {
		pods = append(pods, fmt.Sprintf("%d:%s:ready=%t:terminating=%t", p.Index, p.Version, p.Ready, p.Terminating))
	}
	slices.Sort(pods)
	st := r.st
	us := "none"
	if u := st.UpgradeStatus; u != nil {
		us = fmt.Sprintf("%s %s->%s updated=%d failures=%d", u.Phase, u.FromVersion, u.ToVersion, u.UpdatedReplicas, len(u.Failures))
	}
	return fmt.Sprintf("phase=%s current=%s rollbackCount=%d upgrade=[%s]\npods=%s", st.Phase, st.CurrentVersion, st.RollbackCount, us, strings.Join(pods, " "))
}

func TestCrashAfterEveryWrite(t *testing.T) {
	total := 0
	for _, sc := range crashScenarios {
		t.Run(sc.name, func(t *testing.T) {
			base := newCrashRun(t, sc, 0, 0)
			want := base.run()
			podWrites, statusWrites := base.podWrite, base.statuses
			if podWrites == 0 || statusWrites == 0 {
				t.Fatalf("nothing written: %s", want)
			}
			for k := 1; k <= podWrites; k++ {
				r := newCrashRun(t, sc, k, 0)
				if got := r.run(); got != want || r.crashes != 1 {
					t.Fatalf("crash after pod write %d of %d (%d crashes): end state\n%s\nwant (no crash)\n%s", k, podWrites, r.crashes, got, want)
				}
			}
			for k := 1; k <= statusWrites; k++ {
				r := newCrashRun(t, sc, 0, k)
				if got := r.run(); got != want || r.crashes != 1 {
					t.Fatalf("crash before status write %d of %d (%d crashes): end state\n%s\nwant (no crash)\n%s", k, statusWrites, r.crashes, got, want)
				}
			}
			total += podWrites + statusWrites
			t.Logf("%s: %d crash points (%d after a pod write, %d before a status write), every run ends as the fault-free one: %s",
				sc.name, podWrites+statusWrites, podWrites, statusWrites, strings.ReplaceAll(want, "\n", "; "))
		})
	}
	t.Logf("TestCrashAfterEveryWrite: %d crash points over %d scenarios", total, len(crashScenarios))
}
