package upgrade_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/upgradetest"
)

// Regression tests for the bugs the randomized suite
// (upgrade/upgradetest/model_test.go) found, each the minimal case it
// shrank to, made deterministic. Every Step is checked with every invariant
// of upgradetest (CheckStep, CheckStatus).

// rig drives fresh Upgraders over an in-memory driver, checking every
// invariant after every Step.
type rig struct {
	t        *testing.T
	clk      *clocktesting.FakeClock
	d        *upgradetest.Driver
	drv      upgrade.PodDriver
	spec     upgrade.Spec
	replicas int32
	st       *status.Status
	c        *upgradetest.Checker
	opts     []upgrade.Option
	events   []upgrade.Event
}

func newRig(t *testing.T, replicas int32, specYAML string, dopts ...upgradetest.Option) *rig {
	t.Helper()
	spec, err := upgrade.ParseSpec([]byte(specYAML))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, clk: clocktesting.NewFakeClock(t0), spec: spec, replicas: replicas, st: &status.Status{CurrentVersion: "v1"}}
	r.d = upgradetest.NewDriver(r.clk, append([]upgradetest.Option{upgradetest.WithName("redis"), upgradetest.WithReplicas(replicas, "v1")}, dopts...)...)
	r.drv = r.d
	return r
}

// arranged starts the checks from the group as it is now (what the test
// set up by hand is not judged).
func (r *rig) arranged() {
	r.d.ClearActions()
	r.c = upgradetest.NewChecker(r.spec, r.replicas, "", "", upgradetest.FailoverCapable(r.d.CanFailover()))
}

func (r *rig) step(want string) (upgrade.Result, error) {
	r.t.Helper()
	if r.c == nil {
		r.arranged()
	}
	opts := append([]upgrade.Option{upgrade.WithClock(r.clk), upgrade.WithNotifier(upgrade.NotifierFunc(func(_ context.Context, e upgrade.Event) {
		r.events = append(r.events, e)
	}))}, r.opts...)
	u, err := upgrade.New(r.drv, r.spec, opts...)
	if err != nil {
		r.t.Fatal(err)
	}
	st := r.st.DeepCopy()
	r.c.Resume(st)
	res, err := u.Step(context.Background(), st, upgrade.Desired{Version: want, Replicas: r.replicas})
	if cerr := r.c.CheckStep(st, r.d); cerr != nil {
		r.t.Fatalf("invariant: %v\n%s", cerr, r.pods())
	}
	if cerr := r.c.CheckStatus(st, r.d.Truth()); cerr != nil {
		r.t.Fatalf("invariant: %v\n%s", cerr, r.pods())
	}
	r.st = st
	return res, err
}

// run steps until the group settles, at most max Steps, and fails the
// test when it does not.
func (r *rig) run(want string, max int) int {
	r.t.Helper()
	for n := 1; n <= max; n++ {
		res, err := r.step(want)
		if err != nil && res == (upgrade.Result{}) {
			r.t.Fatal(err)
		}
		if res.Done && upgradetest.Settled(r.st) {
			return n
		}
		r.clk.Step(res.RequeueAfter)
	}
	r.t.Fatalf("not settled after %d Steps: %s %+v\n%s", max, r.st.Phase, r.st.UpgradeStatus, r.pods())
	return 0
}

func (r *rig) pods() string {
	var b strings.Builder
	for _, p := range r.d.Truth() {
		b.WriteString(p.Name + "/" + p.Version)
		if !p.Ready {
			b.WriteString("/notready")
		}
		if p.Terminating {
			b.WriteString("/terminating")
		}
		if p.Primary {
			b.WriteString("/primary")
		}
		b.WriteString(" ")
	}
	return b.String()
}

func (r *rig) count(reason string) int {
	n := 0
	for _, e := range r.events {
		if e.Reason == reason {
			n++
		}
	}
	return n
}

// lastListBefore returns how many Pods calls back (for StalePods) the
// last list that matched ok is, counting the next call as 0.
func (r *rig) listsBack(ok func([]upgrade.Pod) bool) int {
	var lists [][]upgrade.Pod
	for _, a := range r.d.ActionsOf(upgradetest.ActionPods) {
		if a.Err == nil && !a.Handled {
			lists = append(lists, a.Returned)
		}
	}
	for k := len(lists) - 1; k >= 0; k-- {
		if ok(lists[k]) {
			return len(lists) - k
		}
	}
	r.t.Fatal("no such list")
	return 0
}

func writesIn(acts []upgradetest.Action) []string {
	var w []string
	for _, a := range acts {
		if a.Effective && (a.Kind == upgradetest.ActionCreate || a.Kind == upgradetest.ActionDelete || a.Kind == upgradetest.ActionFailover) {
			w = append(w, a.String())
		}
	}
	return w
}

// Bug 1: the Step that failed the attempt (a slot's pod failed) still
// retired another surge slot's old pod decided earlier in the same Step: a
// Step that changes the attempt's phase must write no pod.
func TestRegressPhaseChangeWritesNoPod(t *testing.T) {
	for _, policy := range []string{"", rollbackOn} {
		r := newRig(t, 2, "rollingUpdate:\n  maxSurge: 2\n  maxUnavailable: 0\n"+policy,
			upgradetest.WithPrimary(-1),
			upgradetest.WithStartDelay(func(int32, string) time.Duration { return 5 * time.Second }))
		r.d.FailPods(1, "v2", "CrashLoopBackOff", 5*time.Second)
		for range 50 {
			before := r.d.Actions()
			phase := r.st.UpgradeStatus
			res, _ := r.step("v2")
			if us := r.st.UpgradeStatus; us != nil && phase != nil && us.Phase != phase.Phase {
				if w := writesIn(r.d.Actions()[len(before):]); len(w) > 0 && phase.Phase != status.UpgradePaused {
					t.Fatalf("%q: the Step that moved %s -> %s wrote %v", policy, phase.Phase, us.Phase, w)
				}
			}
			if us := r.st.UpgradeStatus; us != nil && (us.Phase == status.UpgradeFailed || us.Phase == status.UpgradeRollingBack) {
				return
			}
			r.clk.Step(res.RequeueAfter)
		}
		t.Fatalf("%q: slot 1 never failed", policy)
	}
}

// Bug 2: a failed rollback (the old pod it brings back never gets ready)
// with the desired version back at the old one started a new rollback at
// every other Step: RollingBack and Failed flapped for ever.
func TestRegressFailedRollbackDoesNotFlap(t *testing.T) {
	r := newRig(t, 1, "rollingUpdate:\n  maxSurge: 1\n  maxUnavailable: 0\n  timeout: 30s\n")
	r.d.NeverReady(0, "v2")
	r.run("v2", 200)
	if us := r.st.UpgradeStatus; us.Phase != status.UpgradeFailed {
		t.Fatalf("upgrade %s, want Failed (the new pod never gets ready)", us.Phase)
	}
	if err := r.d.Kill("redis-0"); err != nil { // the old pod dies too
		t.Fatal(err)
	}
	r.clk.Step(time.Minute)
	r.run("v1", 200)
	for range 10 {
		r.clk.Step(time.Minute)
		if res, _ := r.step("v1"); !res.Done {
			t.Fatalf("not Done after the rollback failed: %s", r.st.UpgradeStatus.Phase)
		}
	}
	if us := r.st.UpgradeStatus; us.Phase != status.UpgradeFailed || r.count(upgrade.ReasonRollbackStarted) != 1 {
		t.Fatalf("upgrade %s after %d rollbacks, want Failed after 1", us.Phase, r.count(upgrade.ReasonRollbackStarted))
	}
}

// retargetWithPrimaryOnExtra leaves slot 0 with its old pod, primary, and a
// ready surge pod of an abandoned target, then asks for v3.
func retargetWithPrimaryOnExtra(t *testing.T, spec string, dopts ...upgradetest.Option) *rig {
	t.Helper()
	r := newRig(t, 2, spec, append([]upgradetest.Option{
		upgradetest.WithStartDelay(func(int32, string) time.Duration { return time.Second }),
		upgradetest.WithFailoverDelay(2 * time.Second)}, dopts...)...)
	r.opts = append(r.opts, upgrade.WithPostUpgradeVerifier(r.d.Verifier()))
	r.d.SetVerifyResult(upgradetest.AnyIndex, "v2", errors.New("connection refused")) // holds slot 0 in Verifying
	r.clk.Step(time.Second)                                                           // the surge pod is the newer: it is kept
	for range 20 {
		res, _ := r.step("v2")
		if p, ok := r.d.Pod("redis-0-surge-1"); ok && p.Ready {
			break
		}
		r.clk.Step(res.RequeueAfter)
	}
	if _, ok := r.d.Pod("redis-0-surge-1"); !ok {
		t.Fatalf("no surge pod: %s", r.pods())
	}
	return r
}

// Bug 3: a slot with two old pods (a surge pod of an abandoned target
// beside the original) whose extra pod held the primary role asked for a
// failover at every Step, each Step asking to be called again at once: the
// role never had time to move and the group spun at one instant.
func TestRegressExtraPodFailoverAskedOnce(t *testing.T) {
	r := retargetWithPrimaryOnExtra(t, "rollingUpdate:\n  maxSurge: 1\n  maxUnavailable: 0\n")
	r.d.ClearFaults()
	r.run("v3", 300)
	if n := len(r.d.ActionsOf(upgradetest.ActionFailover)); n > 4 {
		t.Fatalf("%d failovers for one move of the role", n)
	}
	if us := r.st.UpgradeStatus; us.Phase != status.UpgradeCompleted {
		t.Fatalf("upgrade %s, want Completed: %s", us.Phase, r.pods())
	}
}

// Bug 4: a slot started without budget because its pod was down (a broken
// pod is replaced for free) kept going when the pod came back before its
// delete went through, stopping a ready pod beyond maxUnavailable.
func TestRegressRevivedPodNotStoppedBeyondBudget(t *testing.T) {
	r := newRig(t, 3, "rollingUpdate:\n  maxSurge: 0\n  maxUnavailable: 1\n",
		upgradetest.WithPrimary(-1),
		upgradetest.WithStartDelay(func(int32, string) time.Duration { return 5 * time.Second }))
	for _, n := range []string{"redis-0", "redis-1"} {
		if err := r.d.Kill(n); err != nil {
			t.Fatal(err)
		}
	}
	r.d.InjectFault(upgradetest.CallFault{Kind: upgradetest.ActionDelete, Nth: 1, Times: 2, Err: errors.New("apiserver unavailable")})
	r.arranged()
	r.step("v2") // start
	r.step("v2") // both broken slots start for free; their deletes fail
	for _, n := range []string{"redis-0", "redis-1"} {
		if err := r.d.SetReady(n, true); err != nil {
			t.Fatal(err)
		}
	}
	r.clk.Step(time.Second)
	r.run("v2", 300) // the checker's S2 fails the test if both go down
	if us := r.st.UpgradeStatus; us.Phase != status.UpgradeCompleted {
		t.Fatalf("upgrade %s", us.Phase)
	}
}

// Bug 5: a rollback declared RolledBack on a list that did not show a pod
// it had created (the status of that Step lost, the list lagging) never
// looked again: the pod stayed at the new version for good.
func TestRegressRolledBackWithPodOffResumes(t *testing.T) {
	r := newRig(t, 1, "")
	if err := r.d.Create(context.Background(), 0, "v2", true); err != nil {
		t.Fatal(err)
	}
	at := metav1.NewTime(t0)
	r.st = &status.Status{Phase: status.PhaseRunning, CurrentVersion: "v1", TargetVersion: "v1", UpgradeStatus: &status.UpgradeStatus{
		Phase: status.UpgradeRolledBack, FromVersion: "v1", ToVersion: "v2", StartedAt: &at, CompletedAt: &at, TotalReplicas: 1, Manual: true, RollbackReason: "manual rollback"}}
	r.arranged()
	r.run("v2", 100)
	if err := upgradetest.CheckRolledBack(r.st, 1, r.d.Truth()); err != nil {
		t.Fatal(err)
	}
}

// Bug 6: the same for an upgrade declared Completed while a pod of
// another version was left: it is reopened and finished.
func TestRegressCompletedWithPodOffReopens(t *testing.T) {
	r := newRig(t, 1, "", upgradetest.WithReplicas(1, "v2"))
	if err := r.d.Create(context.Background(), 0, "v1", true); err != nil {
		t.Fatal(err)
	}
	at := metav1.NewTime(t0)
	r.st = &status.Status{Phase: status.PhaseRunning, CurrentVersion: "v2", TargetVersion: "v2", UpgradeStatus: &status.UpgradeStatus{
		Phase: status.UpgradeCompleted, FromVersion: "v1", ToVersion: "v2", StartedAt: &at, CompletedAt: &at, TotalReplicas: 1, UpdatedReplicas: 1}}
	r.arranged()
	r.run("v2", 100)
	if err := upgradetest.CheckSettled(r.st, 1, r.d.Truth()); err != nil {
		t.Fatal(err)
	}
	if r.st.UpgradeStatus.Phase != status.UpgradeCompleted {
		t.Fatalf("upgrade %s", r.st.UpgradeStatus.Phase)
	}
}

// Bug 7: Failover was asked once per transition; when the pod chosen to
// take the role died before it moved, the slot waited out its timeout and
// failed the upgrade. It is asked again a quarter of the timeout later.
func TestRegressFailoverAskedAgainWhenTheRoleDidNotMove(t *testing.T) {
	r := newRig(t, 3, "rollingUpdate:\n  maxSurge: 0\n  maxUnavailable: 1\n  timeout: 20s\n",
		upgradetest.WithFailoverDelay(3*time.Second),
		upgradetest.WithStartDelay(func(int32, string) time.Duration { return time.Second }))
	for range 5 {
		r.step("v2")
		if len(r.d.ActionsOf(upgradetest.ActionFailover)) > 0 {
			break
		}
	}
	if err := r.d.Remove("redis-1"); err != nil { // the pod taking the role dies
		t.Fatal(err)
	}
	r.run("v2", 500)
	if us := r.st.UpgradeStatus; us.Phase != status.UpgradeCompleted || len(us.Failures) != 0 {
		t.Fatalf("upgrade %s, failures %+v", us.Phase, us.Failures)
	}
}

// Bug 8: slots with no pod at all were recreated without looking at the
// pod budget: with terminating pods still listed, the group went beyond
// replicas + maxSurge (the checker's S1 fails the test).
func TestRegressRecreateWithinPodBudget(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 4, "rollingUpdate:\n  maxSurge: 1\n  maxUnavailable: 1\n",
		upgradetest.WithPrimary(-1),
		upgradetest.WithTerminationDelay(func(p upgrade.Pod) time.Duration {
			if p.Version == "v2" {
				return time.Minute
			}
			return 0
		}))
	for i := range int32(2) {
		if err := r.d.Create(ctx, i, "v2", true); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"redis-0-surge-1", "redis-1-surge-1", "redis-2", "redis-3"} {
		p, _ := r.d.Pod(n)
		if err := r.d.Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	at := metav1.NewTime(t0)
	r.st = &status.Status{Phase: status.PhaseRollingBack, CurrentVersion: "v1", TargetVersion: "v1", UpgradeStatus: &status.UpgradeStatus{
		Phase: status.UpgradeRollingBack, FromVersion: "v1", ToVersion: "v2", StartedAt: &at, TotalReplicas: 4, Manual: true, RollbackReason: "manual rollback"}}
	r.arranged()
	r.run("v2", 300)
	if err := upgradetest.CheckRolledBack(r.st, 4, r.d.Truth()); err != nil {
		t.Fatal(err)
	}
}

// Bug 9: two slots stopping at once, each failing the primary role over to
// the other's pod: the role went back and forth at every Step, at one
// instant, for ever.
func TestRegressNoFailoverPingPong(t *testing.T) {
	r := newRig(t, 4, "rollingUpdate:\n  maxSurge: 10%\n  maxUnavailable: 3\n  timeout: 15s\n  order: ReverseOrdinal\npreUpgradeCheck:\n  enabled: true\n  type: custom\n  command: redis-cli info replication\n  expected: up\n  interval: 1s\n  timeout: 3s\n",
		upgradetest.WithPrimary(1),
		upgradetest.WithStartDelay(func(i int32, _ string) time.Duration { return time.Duration(1+i) * time.Second }))
	r.opts = append(r.opts, upgrade.WithPreUpgradeCheck(r.d.Verifier()))
	r.run("v2", 500)
	if n := len(r.d.ActionsOf(upgradetest.ActionFailover)); n > 4 {
		t.Fatalf("%d failovers to upgrade 4 pods", n)
	}
	if us := r.st.UpgradeStatus; us.Phase != status.UpgradeCompleted {
		t.Fatalf("upgrade %s", us.Phase)
	}
}

// Bug 10: a rollback forgot the pods the upgrade had stopped (it clears the
// slots' entries): a list still showing them running made it count their
// slots available and stop two more (the checker's S2 fails the test).
func TestRegressRollbackRemembersStoppedPods(t *testing.T) {
	r := newRig(t, 4, "rollingUpdate:\n  maxSurge: 0\n  maxUnavailable: 2\n",
		upgradetest.WithPrimary(-1),
		upgradetest.WithStartDelay(func(int32, string) time.Duration { return time.Second }),
		upgradetest.WithTerminationDelay(func(upgrade.Pod) time.Duration { return 30 * time.Second }))
	for range 100 { // upgrade until slots 2 and 3 are stopped
		res, _ := r.step("v2")
		if p, ok := r.d.Pod("redis-3"); ok && p.Terminating && p.Version == "v1" {
			break
		}
		r.clk.Step(res.RequeueAfter)
	}
	r.step("v1") // the desired version goes back: rollback
	// The next list is the last one that showed slots 2 and 3 running.
	r.d.StalePods(r.listsBack(func(ps []upgrade.Pod) bool {
		for _, p := range ps {
			if p.Index >= 2 && p.Terminating {
				return false
			}
		}
		return true
	}), 3)
	r.run("v1", 300)
	if err := upgradetest.CheckRolledBack(r.st, 4, r.d.Truth()); err != nil {
		t.Fatal(err)
	}
}

// Bug 11: a rollback forgot a surge pod the upgrade had just created and no
// list showed yet: it counted the budget without it and created one more
// (the checker's S1 fails the test).
func TestRegressRollbackRemembersUnlistedCreates(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 3, "rollingUpdate:\n  maxSurge: 1\n  maxUnavailable: 0\n",
		upgradetest.WithPrimary(-1),
		upgradetest.WithStartDelay(func(int32, string) time.Duration { return 10 * time.Second }))
	// Slot 1 runs v2 already (in place); slot 0's surge pod is created
	// after the last list.
	if err := r.d.Remove("redis-1"); err != nil {
		t.Fatal(err)
	}
	if err := r.d.Create(ctx, 1, "v2", false); err != nil {
		t.Fatal(err)
	}
	r.clk.Step(10 * time.Second)
	if _, err := r.d.Pods(ctx); err != nil { // the list before the surge pod
		t.Fatal(err)
	}
	if err := r.d.Create(ctx, 0, "v2", true); err != nil {
		t.Fatal(err)
	}
	p1, _ := r.d.Pod("redis-1")
	at := metav1.NewTime(r.clk.Now())
	r.st = &status.Status{Phase: status.PhaseUpgrading, CurrentVersion: "v1", TargetVersion: "v2", UpgradeStatus: &status.UpgradeStatus{
		Phase: status.UpgradeInProgress, FromVersion: "v1", ToVersion: "v2", StartedAt: &at, TotalReplicas: 3,
		Pods: []status.PodProgress{
			{Index: 0, Stage: status.StageCreating, Since: at, Version: "v2", Surge: true, LastAttempt: &at},
			{Index: 1, Stage: status.StageDone, Since: at, Version: "v2", NewUID: p1.UID},
		}}}
	r.arranged()
	r.step("v1")        // the desired version goes back: rollback (fresh list)
	r.d.StalePods(2, 3) // then the list from before slot 0's surge pod
	r.run("v1", 300)
	if err := upgradetest.CheckRolledBack(r.st, 3, r.d.Truth()); err != nil {
		t.Fatal(err)
	}
}

// Bug 12: a surge slot whose new pod vanished while its old pod was being
// retired (failover first) went on to stop the old pod, leaving the slot
// with nothing (the checker's S2 fails the test, maxUnavailable 0).
func TestRegressRetireKeepsOldPodWhenNewIsGone(t *testing.T) {
	r := newRig(t, 2, "rollingUpdate:\n  maxSurge: 1\n  maxUnavailable: 0\n  timeout: 20s\n",
		upgradetest.WithFailoverDelay(5*time.Second),
		upgradetest.WithStartDelay(func(int32, string) time.Duration { return time.Second }))
	for range 50 {
		res, _ := r.step("v2")
		if us := r.st.UpgradeStatus; us != nil && len(us.Pods) > 0 && us.Pods[0].Stage == status.StageFailover {
			break
		}
		r.clk.Step(res.RequeueAfter)
	}
	if err := r.d.Remove("redis-0-surge-1"); err != nil {
		t.Fatal(err)
	}
	r.run("v2", 500)
	if us := r.st.UpgradeStatus; us.Phase != status.UpgradeCompleted {
		t.Fatalf("upgrade %s", us.Phase)
	}
}

// Bug 13: with no attempt in flight, a slot whose only pod was terminating
// got Done: nothing would call Step again to recreate the pod once gone.
func TestRegressIdleNotDoneWhileAPodIsGoing(t *testing.T) {
	r := newRig(t, 2, "", upgradetest.WithTerminationDelay(func(upgrade.Pod) time.Duration { return 10 * time.Second }))
	p, _ := r.d.Pod("redis-1")
	if err := r.d.Delete(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	r.arranged()
	if res, _ := r.step("v1"); res.Done || res.RequeueAfter <= 0 {
		t.Fatalf("result %+v while slot 1's pod is terminating", res)
	}
	r.run("v1", 100)
	if p, ok := r.d.Pod("redis-1"); !ok || p.Terminating {
		t.Fatalf("slot 1 not recreated: %s", r.pods())
	}
}

// Bug 14: a failover call that failed deferred every delete of its Step
// (as if the role might have moved): a failing failover held back the
// broken pods of other slots.
func TestRegressFailedFailoverDefersNothing(t *testing.T) {
	r := newRig(t, 3, "rollingUpdate:\n  maxSurge: 0\n  maxUnavailable: 1\n",
		upgradetest.WithFailoverChooser(func(upgrade.Pod, []upgrade.Pod) (upgrade.Pod, error) {
			return upgrade.Pod{}, errors.New("replication link down")
		}))
	r.step("v2")
	r.step("v2") // slot 0 asks for a failover, which fails
	if err := r.d.Kill("redis-2"); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		before := len(r.d.Actions())
		r.clk.Step(time.Second)
		r.step("v2")
		acts := r.d.Actions()[before:]
		failed, deleted := false, false
		for _, a := range acts {
			failed = failed || a.Kind == upgradetest.ActionFailover && a.Err != nil
			deleted = deleted || a.Kind == upgradetest.ActionDelete && a.Pod == "redis-2" && a.Effective
		}
		if deleted {
			return
		}
		if failed {
			t.Fatalf("the broken pod's delete was deferred by a failover that failed: %v", acts)
		}
	}
	t.Fatal("the broken pod was never replaced")
}

// Bug 15: a surge slot whose new pod a lagging list no longer showed was
// started over, and the pods it had created left out of the budget: other
// slots' surge pods went beyond replicas + maxSurge (the checker's S1 fails
// the test).
func TestRegressHiddenNewPodsStayCounted(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 4, "rollingUpdate:\n  maxSurge: 2\n  maxUnavailable: 0\n",
		upgradetest.WithPrimary(-1),
		upgradetest.WithStartDelay(func(int32, string) time.Duration { return time.Minute }))
	if _, err := r.d.Pods(ctx); err != nil { // the list before the surge pods
		t.Fatal(err)
	}
	at := metav1.NewTime(t0)
	us := &status.UpgradeStatus{Phase: status.UpgradeInProgress, FromVersion: "v1", ToVersion: "v2", StartedAt: &at, TotalReplicas: 4}
	for _, i := range []int32{2, 3} {
		if err := r.d.Create(ctx, i, "v2", true); err != nil {
			t.Fatal(err)
		}
		var uid string
		for _, q := range r.d.Truth() {
			if q.Index == i && q.Version == "v2" {
				uid = q.UID
			}
		}
		us.Pods = append(us.Pods, status.PodProgress{Index: i, Stage: status.StageWaitingReady, Since: at, Version: "v2", Surge: true, NewUID: uid})
	}
	r.st = &status.Status{Phase: status.PhaseUpgrading, CurrentVersion: "v1", TargetVersion: "v2", UpgradeStatus: us}
	r.arranged()
	r.d.StalePods(1, 3) // the list from before the surge pods
	for range 3 {
		res, _ := r.step("v2")
		r.clk.Step(res.RequeueAfter)
	}
}

// TestRegressStaleOldPodHoldsTheUnit: in place with maxUnavailable 1, the
// delete of slot 0's old pod took effect but its reply was lost (so the
// pod is not remembered as stopped); its new pod was created and listed;
// then a stale list shows the old pod running and ready again. Slot 0 is
// still moving in place, its new pod unverified: it keeps its unit, and
// slot 1's pod must not be stopped. The slot's budget rule once stopped at
// "in place with only an old pod listed", which WaitingReady is not, and
// slot 1 went down beside slot 0 (found by make stress).
func TestRegressStaleOldPodHoldsTheUnit(t *testing.T) {
	r := newRig(t, 2, "rollingUpdate:\n  maxSurge: 0\n  maxUnavailable: 1\n",
		upgradetest.WithPrimary(-1),
		upgradetest.WithStartDelay(func(int32, string) time.Duration { return 2 * time.Second }))
	r.d.InjectFault(upgradetest.CallFault{Kind: upgradetest.ActionDelete, Nth: 1, AfterEffect: true})
	for r.st.UpgradeStatus == nil || len(r.st.UpgradeStatus.Pods) == 0 || r.st.UpgradeStatus.Pods[0].NewUID == "" {
		if _, err := r.step("v2"); err != nil && !strings.Contains(err.Error(), "injected fault") {
			t.Fatal(err)
		}
		if r.d.Calls(upgradetest.ActionPods) > 20 {
			t.Fatalf("slot 0's new pod never listed: %+v", r.st.UpgradeStatus)
		}
	}
	// The list from before the delete: db-0 at v1, running and ready.
	r.d.StalePods(r.listsBack(func(ps []upgrade.Pod) bool {
		for _, p := range ps {
			if p.Index == 0 && p.Version == "v1" && p.Ready {
				return true
			}
		}
		return false
	}), 1)
	if _, err := r.step("v2"); err != nil {
		t.Fatal(err)
	}
	for _, a := range r.d.Deletes() {
		if a.Index == 1 {
			t.Fatalf("slot 1's pod deleted while slot 0 is unverified: %s", r.pods())
		}
	}
	r.run("v2", 100)
}
