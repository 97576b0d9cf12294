package upgradetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
)

func spec(surge, unav, partition int32) upgrade.Spec {
	s := upgrade.Spec{}
	ms, mu := intstr.FromInt32(surge), intstr.FromInt32(unav)
	s.RollingUpdate.MaxSurge, s.RollingUpdate.MaxUnavailable = &ms, &mu
	s.RollingUpdate.Partition = &partition
	return s
}

func upgrading(from, to string, replicas int32, started time.Time) *status.Status {
	t := metav1.NewTime(started)
	return &status.Status{Phase: status.PhaseUpgrading, CurrentVersion: from, TargetVersion: to,
		UpgradeStatus: &status.UpgradeStatus{Phase: status.UpgradeInProgress, FromVersion: from, ToVersion: to,
			StartedAt: &t, TotalReplicas: replicas}}
}

// env is a test's driver, checker and status, with helpers that act as an
// engine would and check after each act.
type env struct {
	t   *testing.T
	d   *Driver
	c   *Checker
	st  *status.Status
	log []error
}

func newEnv(t *testing.T, s upgrade.Spec, replicas int32, opts []Option, copts ...CheckerOption) *env {
	d := NewDriver(newClock(), append([]Option{WithName("db"), WithReplicas(replicas, "v1")}, opts...)...)
	return &env{t: t, d: d, c: NewChecker(s, replicas, "v1", "v2", copts...), st: upgrading("v1", "v2", replicas, d.Clock().Now())}
}

func (e *env) check() error {
	err := e.c.CheckStep(e.st, e.d)
	e.log = append(e.log, err)
	return err
}

// clean fails the test when a check finds anything.
func (e *env) clean() {
	e.t.Helper()
	if err := e.check(); err != nil {
		e.t.Fatalf("unexpected violation: %v", err)
	}
}

// expect fails the test unless a check finds a violation of rule whose
// message contains want.
func (e *env) expect(rule, want string) {
	e.t.Helper()
	err := e.check()
	var v Violation
	if !errors.As(err, &v) || !strings.Contains(err.Error(), rule+": ") || !strings.Contains(err.Error(), want) {
		e.t.Fatalf("check said %v\nwant a %s violation containing %q", err, rule, want)
	}
}

func (e *env) create(i int32, version string, surge bool) {
	e.t.Helper()
	if err := e.d.Create(e.t.Context(), i, version, surge); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) del(name string) {
	e.t.Helper()
	if err := e.d.Delete(e.t.Context(), mustPod(e.t, e.d, name)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) failover(name string) {
	e.t.Helper()
	if err := e.d.Failover(e.t.Context(), mustPod(e.t, e.d, name)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) wait(d time.Duration) { e.d.Clock().Step(d) }

// repair removes slot i's pod db-i and recreates it at v1, as the engine
// repairs a slot below the partition, checking after each.
func (e *env) repair(i int32) {
	e.t.Helper()
	if err := e.d.Remove(fmt.Sprintf("db-%d", i)); err != nil {
		e.t.Fatal(err)
	}
	e.clean()
	e.create(i, "v1", false)
	e.clean()
}

func slow() []Option {
	return []Option{
		WithStartDelay(func(int32, string) time.Duration { return 5 * time.Second }),
		WithTerminationDelay(func(upgrade.Pod) time.Duration { return 3 * time.Second }),
		WithFailoverDelay(time.Second),
	}
}

func TestCheckerCleanSurgeUpgrade(t *testing.T) {
	e := newEnv(t, spec(1, 0, 0), 3, slow(), StrictAvailability())
	e.clean()
	for i := range int32(3) {
		var old upgrade.Pod
		for _, p := range e.d.Truth() {
			if p.Index == i {
				old = p
			}
		}
		e.create(i, "v2", true)
		e.clean()
		e.wait(5 * time.Second)
		e.clean()
		if old.Primary {
			e.failover(old.Name)
			e.clean()
			e.wait(time.Second)
			e.clean()
		}
		e.del(old.Name)
		e.clean()
		e.wait(3 * time.Second)
		e.clean()
	}
	now := metav1.NewTime(e.d.Clock().Now())
	e.st.Phase, e.st.CurrentVersion = status.PhaseRunning, "v2"
	e.st.UpgradeStatus.Phase, e.st.UpgradeStatus.CompletedAt, e.st.UpgradeStatus.UpdatedReplicas = status.UpgradeCompleted, &now, 3
	e.clean()
	if err := e.c.CheckStatus(e.st, e.d.Truth()); err != nil {
		t.Fatal(err)
	}
	if e.c.Err() != nil || len(e.c.Violations()) != 0 {
		t.Fatalf("violations: %v", e.c.Err())
	}
}

func TestCheckerCleanNonSurgeUpgrade(t *testing.T) {
	e := newEnv(t, spec(0, 1, 0), 3, slow(), StrictAvailability())
	e.d.WithoutFailover()
	for i := int32(2); i >= 0; i-- {
		e.del(fmt.Sprintf("db-%d", i))
		e.clean()
		e.wait(3 * time.Second)
		e.clean()
		e.create(i, "v2", false)
		e.clean()
		e.wait(5 * time.Second)
		e.clean()
	}
}

func TestCheckerPodBudget(t *testing.T) {
	e := newEnv(t, spec(1, 0, 0), 3, slow())
	e.create(1, "v2", true)
	e.clean()
	e.create(2, "v2", true)
	e.expect(RulePodBudget, "5 pods listed after Create db-2-surge-1 (slot 2 at v2, surge)")
	// Still over budget, not worse: not reported again.
	e.wait(time.Second)
	e.clean()
	e.create(0, "v2", true)
	e.expect(RulePodBudget, "6 pods listed")
	if err := e.c.Err(); err == nil || len(e.c.Violations()) != 2 {
		t.Fatalf("Err: %v", err)
	}
	// Terminating pods count.
	e2 := newEnv(t, spec(1, 0, 0), 2, slow())
	e2.create(1, "v2", true)
	e2.wait(5 * time.Second)
	e2.del("db-1")
	e2.clean()
	e2.create(0, "v2", true)
	e2.expect(RulePodBudget, "4 pods listed after Create db-0-surge-1 (slot 0 at v2, surge) (db-0, db-0-surge-1, db-1 (terminating), db-1-surge-1); the budget is replicas 2 + maxSurge 1 = 3 (action #3)")
}

func TestCheckerAvailability(t *testing.T) {
	t.Run("engine deletes beyond the budget", func(t *testing.T) {
		e := newEnv(t, spec(0, 1, 0), 3, slow())
		e.d.WithoutFailover()
		e.del("db-2")
		e.clean()
		e.del("db-1")
		e.expect(RuleAvailability, "2 slots [1 2] have no ready pod after Delete db-1 because the upgrade deleted their pods; maxUnavailable is 1 (action #2)")
	})
	t.Run("a fault-broken slot does not count", func(t *testing.T) {
		e := newEnv(t, spec(0, 1, 0), 3, slow())
		e.d.WithoutFailover()
		if err := e.d.Kill("db-0"); err != nil {
			t.Fatal(err)
		}
		e.clean()
		e.del("db-2")
		e.clean()
		// Replacing the broken pod is always allowed.
		e.del("db-0")
		e.clean()
	})
	t.Run("strict: every down slot counts", func(t *testing.T) {
		e := newEnv(t, spec(0, 1, 0), 3, slow(), StrictAvailability())
		e.d.WithoutFailover()
		if err := e.d.Kill("db-0"); err != nil {
			t.Fatal(err)
		}
		e.del("db-0") // not ready: free
		e.clean()
		e.del("db-2")
		e.expect(RuleAvailability, "stopped ready pod db-2 of slot 2 while 1 slots [0] already had no ready pod; maxUnavailable is 1")
	})
	t.Run("a new pod that never becomes ready keeps the slot counted", func(t *testing.T) {
		e := newEnv(t, spec(0, 1, 0), 3, slow())
		e.d.WithoutFailover()
		e.d.NeverReady(2, "v2")
		e.del("db-2")
		e.wait(3 * time.Second)
		e.create(2, "v2", false)
		e.wait(time.Hour)
		e.clean()
		e.del("db-1")
		e.expect(RuleAvailability, "2 slots [1 2]")
	})
	t.Run("counted until the slot is ready again", func(t *testing.T) {
		e := newEnv(t, spec(0, 1, 0), 2, slow())
		e.d.WithoutFailover()
		e.del("db-1")
		e.wait(3 * time.Second)
		e.create(1, "v2", false)
		e.wait(5 * time.Second)
		e.clean()
		if err := e.d.Kill("db-1"); err != nil { // a fault now: no longer the upgrade's
			t.Fatal(err)
		}
		e.del("db-0")
		e.clean()
	})
}

func TestCheckerPartition(t *testing.T) {
	t.Run("delete below the partition", func(t *testing.T) {
		e := newEnv(t, spec(1, 0, 2), 3, slow())
		e.del("db-1")
		e.expect(RulePartition, "deleted pod db-1 of slot 1 below the partition 2")
	})
	t.Run("recreating a missing pod at its version", func(t *testing.T) {
		e := newEnv(t, spec(1, 0, 2), 3, slow())
		e.repair(1)
		if err := e.d.Remove("db-0"); err != nil {
			t.Fatal(err)
		}
		e.create(0, "v2", false)
		e.expect(RulePartition, "recreated pod db-0 for slot 0 below the partition 2 at v2; the slot had v1")
	})
	t.Run("create beside a running pod", func(t *testing.T) {
		e := newEnv(t, spec(1, 0, 2), 3, slow())
		e.create(1, "v2", true)
		e.expect(RulePartition, "created pod db-1-surge-1 at v2 for slot 1 below the partition 2, which still runs db-1")
	})
	t.Run("lowered partition", func(t *testing.T) {
		e := newEnv(t, spec(1, 0, 2), 3, slow())
		e.c.SetPartition(1)
		e.create(1, "v2", true)
		e.clean()
	})
}

func TestCheckerOnce(t *testing.T) {
	t.Run("both pods of a surge slot deleted", func(t *testing.T) {
		e := newEnv(t, spec(1, 0, 0), 3, slow())
		e.create(2, "v2", true)
		e.wait(5 * time.Second)
		e.del("db-2")
		e.clean()
		e.del("db-2-surge-1")
		e.expect(RuleOnce, "slot 2 lost a ready pod twice in one transition: db-2 then db-2-surge-1")
	})
	t.Run("created twice", func(t *testing.T) {
		e := newEnv(t, spec(2, 0, 0), 3, append(slow(), AllowDuplicateCreates()))
		e.create(2, "v2", true)
		e.clean()
		e.create(2, "v2", true)
		e.expect(RuleOnce, "created pod db-2-surge-2 for slot 2 while db-2-surge-1, created earlier in the same transition, still runs")
	})
	t.Run("replacing a broken new pod is allowed", func(t *testing.T) {
		e := newEnv(t, spec(0, 1, 0), 3, slow())
		e.d.WithoutFailover()
		e.d.FailPods(2, "v2", "CrashLoopBackOff", time.Second)
		e.del("db-2")
		e.wait(3 * time.Second)
		e.create(2, "v2", false)
		e.wait(2 * time.Second)
		e.d.ClearFaults()
		e.del("db-2")
		e.wait(3 * time.Second)
		e.create(2, "v2", false)
		e.wait(5 * time.Second)
		e.clean()
	})
	t.Run("a held slot's repair and its upgrade are two transitions", func(t *testing.T) {
		// Slot 1 is below the partition; its pod vanishes and is
		// recreated at v1 (found by make stress). The partition is then
		// lowered, and the slot's upgrade creates a surge pod at v2 beside
		// the repaired pod before it turned Ready.
		e := newEnv(t, spec(1, 0, 2), 3, slow())
		e.repair(1)
		e.c.SetPartition(0)
		e.create(1, "v2", true)
		e.clean()
	})
	t.Run("created twice at the held version", func(t *testing.T) {
		e := newEnv(t, spec(1, 0, 2), 3, append(slow(), AllowDuplicateCreates()))
		e.repair(1)
		e.create(1, "v1", true)
		e.expect(RulePartition, "created pod db-1-surge-1 at v1 for slot 1 below the partition 2, which still runs db-1")
	})
	t.Run("a new attempt or direction is a new transition", func(t *testing.T) {
		e := newEnv(t, spec(1, 0, 0), 2, slow())
		e.create(1, "v2", true)
		e.wait(5 * time.Second)
		e.del("db-1")
		e.clean()
		e.wait(3 * time.Second)
		e.st.Phase, e.st.UpgradeStatus.Phase = status.PhaseRollingBack, status.UpgradeRollingBack
		e.create(1, "v1", true)
		e.wait(5 * time.Second)
		e.del("db-1-surge-1")
		e.clean()
	})
}

func TestCheckerPrimary(t *testing.T) {
	t.Run("primary deleted while it holds the role", func(t *testing.T) {
		e := newEnv(t, spec(1, 0, 0), 3, slow())
		e.create(0, "v2", true)
		e.wait(5 * time.Second)
		e.del("db-0")
		e.expect(RulePrimary, "deleted pod db-0 of slot 0 while it still held the primary role")
	})
	t.Run("failover started but not done", func(t *testing.T) {
		e := newEnv(t, spec(1, 0, 0), 3, slow())
		e.failover("db-0")
		e.del("db-0")
		e.expect(RulePrimary, "db-0")
	})
	t.Run("driver without failover", func(t *testing.T) {
		e := newEnv(t, spec(0, 1, 0), 3, slow())
		e.d.WithoutFailover()
		e.del("db-0")
		e.clean()
	})
	t.Run("no pod to take the role", func(t *testing.T) {
		e := newEnv(t, spec(0, 1, 0), 1, slow())
		e.del("db-0")
		e.clean()
	})
}

func TestCheckerVersions(t *testing.T) {
	e := newEnv(t, spec(1, 0, 0), 3, slow())
	e.create(2, "v3", true)
	e.expect(RuleVersions, "created pod db-2-surge-1 for slot 2 at v3, neither the from version v1 nor the to version v2")

	// Versions read from the status.
	d := NewDriver(newClock(), WithName("db"), WithReplicas(2, "v1"))
	c := NewChecker(spec(1, 0, 0), 2, "", "")
	st := upgrading("v1", "v3", 2, d.Clock().Now())
	if err := d.Create(t.Context(), 1, "v3", true); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckStep(st, d); err != nil {
		t.Fatal(err)
	}
	if err := d.Create(t.Context(), 0, "v2", true); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckStep(st, d); err == nil || !strings.Contains(err.Error(), "S8: created pod db-0-surge-1 for slot 0 at v2") {
		t.Fatalf("S8 from the status: %v", err)
	}
}

// TestCheckerPodsOnly runs the rules from pods alone, as with a driver that
// is not a *Driver.
func TestCheckerPodsOnly(t *testing.T) {
	t.Run("clean", func(t *testing.T) {
		d := NewDriver(newClock(), append([]Option{WithName("db"), WithReplicas(3, "v1")}, slow()...)...)
		c := NewChecker(spec(1, 0, 0), 3, "v1", "v2", FailoverCapable(true))
		st := upgrading("v1", "v2", 3, d.Clock().Now())
		ctx := t.Context()
		check := func() {
			t.Helper()
			if err := c.Check(st, d.Truth()); err != nil {
				t.Fatal(err)
			}
		}
		check()
		for i := int32(2); i >= 0; i-- {
			old := d.Truth()[i]
			if err := d.Create(ctx, i, "v2", true); err != nil {
				t.Fatal(err)
			}
			check()
			d.Clock().Step(5 * time.Second)
			check()
			if old.Primary {
				if err := d.Failover(ctx, old); err != nil {
					t.Fatal(err)
				}
				d.Clock().Step(time.Second)
				check()
			}
			if err := d.Delete(ctx, old); err != nil {
				t.Fatal(err)
			}
			check()
			d.Clock().Step(3 * time.Second)
			check()
		}
	})
	t.Run("violations", func(t *testing.T) {
		d := NewDriver(newClock(), append([]Option{WithName("db"), WithReplicas(3, "v1")}, slow()...)...)
		c := NewChecker(spec(0, 1, 2), 3, "v1", "v2", FailoverCapable(true))
		st := upgrading("v1", "v2", 3, d.Clock().Now())
		ctx := t.Context()
		if err := c.Check(st, d.Truth()); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"db-0", "db-2"} {
			if err := d.Delete(ctx, mustPod(t, d, name)); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Create(ctx, 1, "v3", true); err != nil {
			t.Fatal(err)
		}
		err := c.Check(st, d.Truth())
		for _, want := range []string{
			"S3: deleted pod db-0 of slot 0 below the partition 2",
			"S5: deleted pod db-0 of slot 0 while it still held the primary role",
			"S2: 2 slots [0 2] have no ready pod at the check",
			"S3: created pod db-1-surge-1 at v3 for slot 1 below the partition 2, which still runs db-1",
			"S1: 4 pods listed at the check",
			"S8: created pod db-1-surge-1 for slot 1 at v3",
		} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("missing %q in:\n%v", want, err)
			}
		}
		// Pods seen at the first check are not judged for S8.
		d2 := NewDriver(newClock(), WithReplicas(2, "v0"))
		c2 := NewChecker(spec(1, 0, 0), 2, "v1", "v2")
		if err := c2.Check(nil, d2.Truth()); err != nil {
			t.Fatal(err)
		}
		if err := c2.Check(nil, d2.Truth()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCheckStatus(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := metav1.NewTime(start)
	pods := func(v string) []upgrade.Pod {
		return []upgrade.Pod{{Index: 0, Name: "db-0", Version: v}, {Index: 1, Name: "db-1", Version: v}}
	}
	ci := func(i int32) *int32 { return &i }
	for _, tc := range []struct {
		name string
		st   *status.Status
		pods []upgrade.Pod
		want []string
	}{
		{"nil", nil, nil, []string{"S6: status is nil"}},
		{"fresh", &status.Status{}, pods("v1"), nil},
		{"running", &status.Status{Phase: status.PhaseRunning, CurrentVersion: "v1"}, pods("v1"), nil},
		{"upgrading without upgradeStatus", &status.Status{Phase: status.PhaseUpgrading}, nil,
			[]string{"S6: phase is Upgrading but there is no upgradeStatus"}},
		{"in progress", upgrading("v1", "v2", 2, start), pods("v1"), nil},
		{"counts out of range", func() *status.Status {
			s := upgrading("v1", "v2", 3, start)
			s.UpgradeStatus.UpdatedReplicas = 4
			s.UpgradeStatus.CurrentIndex = ci(2)
			s.UpgradeStatus.Failures = []status.Failure{{Index: 5}}
			return s
		}(), pods("v1"), []string{
			"S6: upgradeStatus.totalReplicas is 3, the group has 2 replicas",
			"S6: upgradeStatus.updatedReplicas 4 is outside 0..totalReplicas 3",
			"S6: upgradeStatus.currentIndex 2 is outside 0..1",
			"S6: upgradeStatus.failures names slot 5, outside 0..1",
		}},
		{"phases disagree", func() *status.Status {
			s := upgrading("v1", "v2", 2, start)
			s.Phase = status.PhaseRunning
			return s
		}(), pods("v1"), []string{`S6: phase "Running" does not go with upgradeStatus.phase "InProgress"`}},
		{"current version moved early", func() *status.Status {
			s := upgrading("v1", "v2", 2, start)
			s.UpgradeStatus.Phase, s.CurrentVersion = status.UpgradePaused, "v2"
			return s
		}(), pods("v1"), []string{`S6: upgrade Paused but currentVersion is "v2", not fromVersion "v1"`}},
		{"completed", &status.Status{Phase: status.PhaseRunning, CurrentVersion: "v2", UpgradeStatus: &status.UpgradeStatus{
			Phase: status.UpgradeCompleted, FromVersion: "v1", ToVersion: "v2", CompletedAt: &at, TotalReplicas: 2, UpdatedReplicas: 2}}, pods("v2"), nil},
		{"completed badly", &status.Status{Phase: status.PhaseRunning, CurrentVersion: "v1", RollbackCount: 1, UpgradeStatus: &status.UpgradeStatus{
			Phase: status.UpgradeCompleted, FromVersion: "v1", ToVersion: "v2", TotalReplicas: 2}}, pods("v1")[:1], []string{
			"S6: upgrade Completed without completedAt",
			`S6: upgrade Completed but currentVersion is "v1", not toVersion "v2"`,
			"S6: upgrade Completed but rollbackCount is 1, not 0",
			"S6: upgrade Completed but pods run another version than v2: db-0 at v1",
		}},
		{"rolled back badly", &status.Status{Phase: status.PhaseRunning, CurrentVersion: "v2", UpgradeStatus: &status.UpgradeStatus{
			Phase: status.UpgradeRolledBack, FromVersion: "v1", ToVersion: "v2", TotalReplicas: 2,
			Failures: []status.Failure{{Index: 1}}}}, pods("v2"), []string{
			`S6: upgrade RolledBack but currentVersion is "v2", not fromVersion "v1"`,
			"S6: upgrade RolledBack but the failure of slot 1 is not recovered",
			"S6: upgrade RolledBack but pods run another version than v1: db-0 at v2, db-1 at v2",
		}},
		{"failed", &status.Status{Phase: status.PhaseFailed, CurrentVersion: "v1", UpgradeStatus: &status.UpgradeStatus{
			Phase: status.UpgradeFailed, FromVersion: "v1", ToVersion: "v2", TotalReplicas: 2}}, pods("v2"), nil},
		{"rollback count over the limit", &status.Status{Phase: status.PhaseRunning, RollbackCount: 4}, nil,
			[]string{"S7: rollbackCount 4 is outside 0..limit 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewChecker(upgrade.Spec{}, 2, "", "")
			err := c.CheckStatus(tc.st, tc.pods)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no violation, want %q", tc.want)
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got:\n%s\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestCheckStatusRollbackCount(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	auto := upgrade.Spec{}
	auto.Rollback.Enabled, auto.Rollback.OnFailure = true, true
	rolling := func(n int32, manual bool) *status.Status {
		s := upgrading("v1", "v2", 2, start)
		s.Phase, s.UpgradeStatus.Phase, s.RollbackCount, s.UpgradeStatus.Manual = status.PhaseRollingBack, status.UpgradeRollingBack, n, manual
		s.UpgradeStatus.RollbackReason = "slot 1 failed"
		if manual {
			s.UpgradeStatus.RollbackReason = "manual rollback"
		}
		return s
	}
	inProgress := func(n int32) *status.Status {
		s := upgrading("v1", "v2", 2, start)
		s.RollbackCount = n
		return s
	}
	// failing is an attempt whose slot 1 failed in the last Step: the next
	// Step rolls back or fails.
	failing := func(n int32) *status.Status {
		s := inProgress(n)
		s.UpgradeStatus.Failures = []status.Failure{{Index: 1, Error: "not ready"}}
		s.UpgradeStatus.Pods = []status.PodProgress{{Index: 1, Stage: status.StageFailed, Version: "v2"}}
		return s
	}
	completed := func(n int32) *status.Status {
		at := metav1.NewTime(start)
		return &status.Status{Phase: status.PhaseRunning, CurrentVersion: "v2", RollbackCount: n, UpgradeStatus: &status.UpgradeStatus{
			Phase: status.UpgradeCompleted, FromVersion: "v1", ToVersion: "v2", TotalReplicas: 2, CompletedAt: &at}}
	}
	for _, tc := range []struct {
		name string
		spec upgrade.Spec
		seq  []*status.Status
		want string
	}{
		{"automatic rollbacks then success", auto, []*status.Status{failing(0), rolling(1, false), inProgress(1), failing(1), rolling(2, false), completed(0)}, ""},
		{"manual rollback does not count", auto, []*status.Status{inProgress(0), rolling(0, true)}, ""},
		{"manual rollback counted", auto, []*status.Status{inProgress(0), rolling(1, true)}, "S7: rollbackCount rose to 1 for a manual rollback"},
		{"jump", auto, []*status.Status{inProgress(0), rolling(2, false)}, "S7: rollbackCount rose from 0 to 2 in one step"},
		{"rise without rollback", auto, []*status.Status{inProgress(0), inProgress(1)}, "S7: rollbackCount rose to 1 without an automatic rollback (upgrade phase InProgress)"},
		{"rollback disabled", upgrade.Spec{}, []*status.Status{inProgress(0), rolling(1, false)}, "S7: rollbackCount rose to 1 though rollback.enabled and onFailure are not both set"},
		{"reset without success", auto, []*status.Status{rolling(1, false), inProgress(0)}, "S7: rollbackCount fell from 1 to 0 without a completed upgrade (upgrade phase InProgress)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewChecker(tc.spec, 2, "", "")
			var errs []error
			for _, st := range tc.seq {
				var pods []upgrade.Pod
				if us := st.UpgradeStatus; us != nil && us.Phase == status.UpgradeCompleted {
					pods = []upgrade.Pod{{Index: 0, Name: "db-0", Version: "v2"}, {Index: 1, Name: "db-1", Version: "v2"}}
				}
				if err := c.CheckStatus(st, pods); err != nil {
					errs = append(errs, err)
				}
			}
			err := errors.Join(errs...)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCheckerSkipsActionsWithoutEffect(t *testing.T) {
	e := newEnv(t, spec(0, 1, 2), 3, slow())
	e.d.PrependReactor(ActionDelete, func(Action) (bool, error) { return true, errors.New("forbidden") })
	e.d.FailNext(ActionCreate, nil)
	if err := e.d.Delete(t.Context(), mustPod(t, e.d, "db-0")); err == nil {
		t.Fatal("reactor ignored")
	}
	if err := e.d.Create(t.Context(), 0, "v3", true); err == nil {
		t.Fatal("fault ignored")
	}
	e.clean()
	if v := e.c.Violations(); len(v) != 0 {
		t.Fatal(v)
	}
}

// TestCheckStatusRefusedAfterRollback: a rolled-back attempt, then a new
// desired version that a precheck refuses in the same instant: the new
// attempt (same start time, same from version) is Failed with a failure
// of its own, not the old attempt failing without one. The checker once
// took the two for one attempt (found by make stress).
func TestCheckStatusRefusedAfterRollback(t *testing.T) {
	start := metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	spec := upgrade.Spec{}
	spec.Rollback.Enabled, spec.Rollback.OnFailure = true, true
	rolledBack := &status.Status{Phase: status.PhaseRunning, CurrentVersion: "v1", RollbackCount: 1, UpgradeStatus: &status.UpgradeStatus{
		Phase: status.UpgradeRolledBack, FromVersion: "v1", ToVersion: "v2", StartedAt: &start, CompletedAt: &start, TotalReplicas: 1,
		Failures: []status.Failure{{Index: 0, Error: "pod db-0-surge-1 cannot start: ImagePullBackOff", Timestamp: start, Reason: "PodFailed", Recovered: true}}}}
	refused := func(failures ...status.Failure) *status.Status {
		return &status.Status{Phase: status.PhaseRunning, CurrentVersion: "v1", TargetVersion: "v3", RollbackCount: 1, UpgradeStatus: &status.UpgradeStatus{
			Phase: status.UpgradeFailed, FromVersion: "v1", ToVersion: "v3", StartedAt: &start, TotalReplicas: 1, Failures: failures}}
	}
	pods := []upgrade.Pod{{Index: 0, Name: "db-0", Version: "v1", Ready: true, UID: "uid-1"}}
	c := NewChecker(spec, 1, "", "")
	if err := c.CheckStatus(rolledBack, pods); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckStatus(refused(status.Failure{Index: -1, Error: "precheck 1: plugin does not support v3", Timestamp: start, Reason: "PrecheckFailed"}), pods); err != nil {
		t.Fatalf("a refused new attempt: %v", err)
	}
	// The same move with no failure of its own is still reported.
	c = NewChecker(spec, 1, "", "")
	_ = c.CheckStatus(rolledBack, pods)
	failed := refused(rolledBack.UpgradeStatus.Failures...)
	failed.UpgradeStatus.ToVersion = "v2"
	if err := c.CheckStatus(failed, pods); err == nil || !strings.Contains(err.Error(), "to Failed without recording a failure") {
		t.Fatalf("got %v, want a report of Failed without a failure", err)
	}
}

// TestCheckerBrokenFirst: L3 reports a slot whose pods are all old and not
// ready when two Steps in a row leave it alone; Steps that failed a pod
// over do not count (the engine defers their deletes), however many in a
// row (found by make stress: failovers asked again after lost status
// writes).
func TestCheckerBrokenFirst(t *testing.T) {
	e := newEnv(t, spec(0, 1, 0), 3, slow())
	if err := e.d.Kill("db-2"); err != nil {
		t.Fatal(err)
	}
	step := func(failover bool) error {
		t.Helper()
		if _, err := e.d.Pods(t.Context()); err != nil {
			t.Fatal(err)
		}
		if failover {
			e.failover("db-0")
			e.wait(2 * time.Second)
		}
		if err := e.c.CheckStep(e.st, e.d); err != nil {
			return err
		}
		return e.c.CheckStatus(e.st, e.d.Truth())
	}
	for n, failover := range []bool{true, true, true, false} {
		if err := step(failover); err != nil {
			t.Fatalf("step %d: %v", n+1, err)
		}
	}
	err := step(false)
	if err == nil || !strings.Contains(err.Error(), "L3: slot 2 shows only old pods that are not ready (db-2) and two Steps in a row did not start replacing it") {
		t.Fatalf("second Step in a row without a failover: %v, want an L3 report", err)
	}
}
