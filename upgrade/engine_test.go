package upgrade_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/upgradetest"
	"github.com/rollgate/rollgate/verify"
)

const rollbackOn = "rollback:\n  enabled: true\n  onFailure: true\n"

func TestBudgetsHold(t *testing.T) {
	tests := []struct {
		name              string
		replicas          int32
		spec              string
		wantMaxPods       int
		wantMaxUnready    int
		wantWindowAtLeast int // pods or unready slots reached: the budget is used
		surge             bool
	}{
		{"default surge 1", 5, "", 6, 0, 6, true},
		{"unavailable 2", 5, "rollingUpdate:\n  maxSurge: 0\n  maxUnavailable: 2\n", 5, 2, 2, false},
		{"surge 2 unavailable 1", 6, "rollingUpdate:\n  maxSurge: 2\n  maxUnavailable: 1\n", 8, 1, 8, true},
		{"percent", 8, "rollingUpdate:\n  maxSurge: 25%\n  maxUnavailable: 25%\n", 10, 2, 10, true},
		{"tiny group both resolve to 0", 1, "rollingUpdate:\n  maxSurge: 0%\n  maxUnavailable: 10%\n", 1, 1, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.replicas, tt.spec)
			h.run("v2")
			if !h.allAt("v2") || h.st.CurrentVersion != "v2" {
				t.Fatalf("not upgraded: %s, current %q", h.versions(), h.st.CurrentVersion)
			}
			if h.maxPods > tt.wantMaxPods {
				t.Errorf("max pods %d > %d", h.maxPods, tt.wantMaxPods)
			}
			if h.maxUnready > tt.wantMaxUnready {
				t.Errorf("max unready slots %d > %d", h.maxUnready, tt.wantMaxUnready)
			}
			used := h.maxUnready
			if tt.surge {
				used = h.maxPods
			}
			if used < tt.wantWindowAtLeast {
				t.Errorf("budget not used: reached %d, want %d", used, tt.wantWindowAtLeast)
			}
			if got := h.count(upgrade.ReasonPodUpgraded); got != int(tt.replicas) {
				t.Errorf("PodUpgraded sent %d times, want %d", got, tt.replicas)
			}
		})
	}
}

// TestRollingWindowNotBatches: a free budget slot is used at once; a slow
// pod does not hold back the others.
func TestRollingWindowNotBatches(t *testing.T) {
	h := newHarness(t, 5, "rollingUpdate:\n  maxSurge: 0\n  maxUnavailable: 2\n",
		withDriverOpts(upgradetest.WithStartDelay(func(i int32, _ string) time.Duration {
			if i == 0 {
				return 60 * time.Second
			}
			return 5 * time.Second
		})))
	h.run("v2")
	var created0, created2 time.Time
	var ready0 time.Time
	for _, a := range h.d.Creates() {
		switch a.Index {
		case 0:
			created0 = a.Time
		case 2:
			created2 = a.Time
		}
	}
	ready0 = created0.Add(60 * time.Second)
	if !created2.Before(ready0) {
		t.Fatalf("slot 2 created at %v, after slow slot 0 was ready at %v: rigid batches", created2, ready0)
	}
}

func TestOrders(t *testing.T) {
	tests := []struct {
		order string
		want  []int32
	}{
		{"Ordinal", []int32{0, 1, 2, 3, 4}},
		{"ReverseOrdinal", []int32{4, 3, 2, 1, 0}},
		{"PrimaryLast", []int32{0, 1, 3, 4, 2}}, // primary at slot 2
		// Estimates 10s, 40s, 90s, 40s, 0: longest first, ties by index,
		// the primary (slot 2, the longest) last.
		{"LongestFirst", []int32{1, 3, 0, 4, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.order, func(t *testing.T) {
			h := newHarness(t, 5, "rollingUpdate:\n  order: "+tt.order+"\n", withDriverOpts(upgradetest.WithPrimary(2), withEstimates(10, 40, 90, 40, 0)))
			h.run("v2")
			if got := h.createOrder(); !slices.Equal(got, tt.want) {
				t.Fatalf("create order %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPrimaryLastFailover: the primary is stopped last and only after
// Failover moved its role, observed through the driver.
func TestPrimaryLastFailover(t *testing.T) {
	for _, spec := range []string{
		"rollingUpdate:\n  order: PrimaryLast\n",
		"rollingUpdate:\n  order: PrimaryLast\n  maxSurge: 0\n  maxUnavailable: 1\n",
	} {
		t.Run(spec, func(t *testing.T) {
			h := newHarness(t, 3, spec, withDriverOpts(upgradetest.WithPrimary(0), upgradetest.WithFailoverDelay(3*time.Second)))
			h.run("v2")
			var failoverAt, deleteAt int
			for _, a := range h.d.Actions() {
				if a.Kind == upgradetest.ActionFailover && a.Pod == "redis-0" && failoverAt == 0 {
					failoverAt = a.Seq
				}
				if a.Kind == upgradetest.ActionDelete && a.Pod == "redis-0" && a.Effective {
					deleteAt = a.Seq
					for _, p := range a.Before {
						if p.Name == "redis-0" && p.Primary {
							t.Fatalf("redis-0 deleted while primary")
						}
					}
				}
			}
			if failoverAt == 0 || deleteAt == 0 || failoverAt > deleteAt {
				t.Fatalf("failover at %d, delete at %d", failoverAt, deleteAt)
			}
			if got := h.createOrder(); got[len(got)-1] != 0 {
				t.Fatalf("primary slot not last: %v", got)
			}
		})
	}
}

// TestBrokenPodsFirstAndFree: an old pod that is already not ready is
// replaced first, even with maxUnavailable 0 and no surge room.
func TestBrokenPodsFirstAndFree(t *testing.T) {
	h := newHarness(t, 5, "rollingUpdate:\n  maxSurge: 1\n  maxUnavailable: 0\n")
	if err := h.d.Kill("redis-3"); err != nil {
		t.Fatal(err)
	}
	h.run("v2")
	if got := h.firstWrite(); got != 3 {
		t.Fatalf("first write on slot %d, want the broken slot 3", got)
	}
	if !h.allAt("v2") {
		t.Fatalf("not upgraded: %s", h.versions())
	}
	// Two broken pods, no budget for healthy ones: both still go first.
	h2 := newHarness(t, 4, "rollingUpdate:\n  maxSurge: 0\n  maxUnavailable: 1\n")
	_ = h2.d.Kill("redis-1")
	_ = h2.d.Kill("redis-2")
	res := h2.step("v2") // start
	h2.clk.Step(res.RequeueAfter)
	h2.step("v2")
	var deleted []int32
	for _, a := range h2.d.Deletes() {
		deleted = append(deleted, a.Index)
	}
	if !slices.Equal(deleted, []int32{1, 2}) {
		t.Fatalf("deleted %v in the first round, want the two broken slots [1 2]", deleted)
	}
}

// TestPartitionCanaryThenPromote: design section 4.
func TestPartitionCanaryThenPromote(t *testing.T) {
	h := newHarness(t, 5, "rollingUpdate:\n  partition: 3\n")
	h.run("v2")
	if p, up := h.phases(); p != status.PhaseUpgrading || up != status.UpgradePaused {
		t.Fatalf("phases %s/%s, want Upgrading/Paused", p, up)
	}
	if h.st.CurrentVersion != "v1" {
		t.Fatalf("currentVersion %q changed while paused", h.st.CurrentVersion)
	}
	for _, a := range h.d.Actions() {
		if (a.Kind == upgradetest.ActionCreate || a.Kind == upgradetest.ActionDelete) && a.Index < 3 {
			t.Fatalf("slot %d below the partition touched: %v", a.Index, a)
		}
	}
	if h.count(upgrade.ReasonUpgradePaused) != 1 {
		t.Fatalf("events %v", h.reasons())
	}
	if h.st.UpgradeStatus.UpdatedReplicas != 2 {
		t.Fatalf("updatedReplicas %d", h.st.UpgradeStatus.UpdatedReplicas)
	}
	// Done while paused: stepping again changes nothing.
	before := len(h.d.Actions())
	if res := h.step("v2"); !res.Done {
		t.Fatalf("paused step not Done: %+v", res)
	}
	for _, a := range h.d.Actions()[before:] {
		if a.Kind != upgradetest.ActionPods {
			t.Fatalf("paused step wrote: %v", a)
		}
	}
	// A missing pod below the partition comes back at the old version.
	if err := h.d.Remove("redis-1"); err != nil {
		t.Fatal(err)
	}
	h.run("v2")
	if v := h.d.Versions()[1]; v != "v1" {
		t.Fatalf("held slot 1 recreated at %q, want v1", v)
	}
	h.setPartition(0)
	h.run("v2")
	if p, up := h.phases(); p != status.PhaseRunning || up != status.UpgradeCompleted || h.st.CurrentVersion != "v2" {
		t.Fatalf("after promote: %s/%s current %s", p, up, h.st.CurrentVersion)
	}
	if h.st.UpgradeStatus.CompletedAt == nil {
		t.Fatal("completedAt not set")
	}
}

// TestFailedReasonFailsAtOnce: ImagePullBackOff fails the pod long before
// the timeout, and rollback restores the old version.
func TestFailedReasonFailsAtOnce(t *testing.T) {
	for _, reason := range []string{"ImagePullBackOff", "CrashLoopBackOff", "ErrImagePull", "InvalidImageName"} {
		t.Run(reason, func(t *testing.T) {
			h := newHarness(t, 3, rollbackOn)
			h.d.FailPods(1, "v2", reason, time.Second)
			h.run("v2")
			us := h.st.UpgradeStatus
			if us.Phase != status.UpgradeRolledBack || h.st.Phase != status.PhaseRunning || h.st.CurrentVersion != "v1" {
				t.Fatalf("phase %s/%s current %s", h.st.Phase, us.Phase, h.st.CurrentVersion)
			}
			if len(us.Failures) != 1 || us.Failures[0].Index != 1 || !strings.Contains(us.Failures[0].Error, reason) || !us.Failures[0].Recovered {
				t.Fatalf("failures %+v", us.Failures)
			}
			if took := us.Failures[0].Timestamp.Sub(us.StartedAt.Time); took > time.Minute {
				t.Fatalf("failure noticed after %v; the timeout is 300s but a Failed reason must fail at once", took)
			}
			if !h.allAt("v1") {
				t.Fatalf("not rolled back: %s", h.versions())
			}
			if h.st.RollbackCount != 1 {
				t.Fatalf("rollbackCount %d", h.st.RollbackCount)
			}
		})
	}
}

func TestTimeoutWithoutRollback(t *testing.T) {
	h := newHarness(t, 3, "rollingUpdate:\n  timeout: 60s\n")
	h.d.NeverReady(1, "v2")
	h.run("v2")
	us := h.st.UpgradeStatus
	if h.st.Phase != status.PhaseFailed || us.Phase != status.UpgradeFailed {
		t.Fatalf("phase %s/%s", h.st.Phase, us.Phase)
	}
	if len(us.Failures) != 1 || us.Failures[0].Reason != "Timeout" {
		t.Fatalf("failures %+v", us.Failures)
	}
	if took := us.Failures[0].Timestamp.Sub(us.StartedAt.Time); took < 60*time.Second || took > 80*time.Second {
		t.Fatalf("timed out after %v, want about 60s", took)
	}
	if h.count(upgrade.ReasonUpgradeFailed) != 1 || h.count(upgrade.ReasonRollbackStarted) != 0 {
		t.Fatalf("events %v", h.reasons())
	}
	// Failed is not retried by itself.
	before := len(h.d.Creates())
	if res := h.step("v2"); !res.Done || len(h.d.Creates()) != before {
		t.Fatalf("failed attempt retried by itself: %+v", res)
	}
	c := meta.FindStatusCondition(h.st.Conditions, status.ConditionDegraded)
	if c == nil || c.Status != "True" {
		t.Fatalf("Degraded %+v", c)
	}
}

// TestRollbackCounting follows design section 7.3.
func TestRollbackCounting(t *testing.T) {
	h := newHarness(t, 3, rollbackOn+"  limit: 2\n")
	h.d.SetVerifyResult(upgradetest.AnyIndex, "v2", &verify.FailedError{Type: verify.TypeExec, Reason: "expected PONG"})
	h.opts = append(h.opts, upgrade.WithPostUpgradeVerifier(h.d.Verifier()))
	h.spec.PostUpgradeVerify.FailureThreshold = 1

	for attempt := int32(1); attempt <= 2; attempt++ {
		h.run("v2")
		if h.st.UpgradeStatus.Phase != status.UpgradeRolledBack || h.st.RollbackCount != attempt {
			t.Fatalf("attempt %d: %s count %d", attempt, h.st.UpgradeStatus.Phase, h.st.RollbackCount)
		}
		if err := h.upgrader().Retry(&h.st); err != nil {
			t.Fatal(err)
		}
		if h.st.RollbackCount != attempt {
			t.Fatal("Retry changed rollbackCount")
		}
	}
	// Third failure: the limit is reached, no rollback.
	h.run("v2")
	if h.st.Phase != status.PhaseFailed || h.st.UpgradeStatus.Phase != status.UpgradeFailed || h.st.RollbackCount != 2 {
		t.Fatalf("at limit: %s/%s count %d", h.st.Phase, h.st.UpgradeStatus.Phase, h.st.RollbackCount)
	}
	if h.count(upgrade.ReasonRollbackLimitReached) != 1 {
		t.Fatalf("events %v", h.reasons())
	}
	// A manual rollback is allowed from Failed and not counted.
	if err := h.upgrader().Rollback(context.Background(), &h.st, "operator asked"); err != nil {
		t.Fatal(err)
	}
	h.run("v2")
	if h.st.UpgradeStatus.Phase != status.UpgradeRolledBack || h.st.RollbackCount != 2 || !h.st.UpgradeStatus.Manual {
		t.Fatalf("manual rollback: %s count %d", h.st.UpgradeStatus.Phase, h.st.RollbackCount)
	}
	// A success resets the count.
	h.d.SetVerifyResult(upgradetest.AnyIndex, "v2", nil)
	if err := h.upgrader().Retry(&h.st); err != nil {
		t.Fatal(err)
	}
	h.run("v2")
	if h.st.UpgradeStatus.Phase != status.UpgradeCompleted || h.st.RollbackCount != 0 {
		t.Fatalf("success: %s count %d", h.st.UpgradeStatus.Phase, h.st.RollbackCount)
	}
}

func TestRollbackPolicyOff(t *testing.T) {
	for _, spec := range []string{"rollback:\n  enabled: false\n  onFailure: true\n", "rollback:\n  enabled: true\n  onFailure: false\n"} {
		h := newHarness(t, 3, spec)
		h.d.FailPods(2, "v2", "ImagePullBackOff", 0)
		h.run("v2")
		if h.st.Phase != status.PhaseFailed || h.st.RollbackCount != 0 || h.count(upgrade.ReasonRollbackStarted) != 0 {
			t.Fatalf("%q: phase %s count %d events %v", spec, h.st.Phase, h.st.RollbackCount, h.reasons())
		}
	}
}

func TestManualRollbackAndRetryRules(t *testing.T) {
	h := newHarness(t, 4, "")
	res := h.step("v2")
	for i := 0; i < 6; i++ {
		h.clk.Step(res.RequeueAfter)
		res = h.step("v2")
	}
	u := h.upgrader()
	if err := u.Retry(&h.st); err == nil {
		t.Fatal("Retry accepted while InProgress")
	}
	if err := u.Rollback(context.Background(), &h.st, "bad canary"); err != nil {
		t.Fatal(err)
	}
	if h.st.Phase != status.PhaseRollingBack || h.st.RollbackCount != 0 {
		t.Fatalf("after Rollback: %s count %d", h.st.Phase, h.st.RollbackCount)
	}
	h.run("v2")
	if h.st.UpgradeStatus.Phase != status.UpgradeRolledBack || !h.allAt("v1") || h.st.RollbackCount != 0 {
		t.Fatalf("manual rollback: %s %s", h.st.UpgradeStatus.Phase, h.versions())
	}
	if err := u.Rollback(context.Background(), &h.st, "again"); err == nil {
		t.Fatal("Rollback accepted on a RolledBack attempt")
	}
	// Not retried by itself; Retry starts a new attempt.
	if res := h.step("v2"); !res.Done || h.st.UpgradeStatus.Phase != status.UpgradeRolledBack {
		t.Fatalf("rolled back attempt restarted by itself")
	}
	if err := u.Retry(&h.st); err != nil {
		t.Fatal(err)
	}
	h.run("v2")
	if h.st.UpgradeStatus.Phase != status.UpgradeCompleted || !h.allAt("v2") {
		t.Fatalf("after Retry: %s %s", h.st.UpgradeStatus.Phase, h.versions())
	}
}

func TestPrecheckRefusal(t *testing.T) {
	calls := 0
	refuse := true
	h := newHarness(t, 3, "", withUpgraderOpts(upgrade.WithPrecheck(upgrade.PrecheckFunc(func(_ context.Context, from, to string) error {
		calls++
		if refuse {
			return fmt.Errorf("image registry.local/redis:%s not found", to)
		}
		return nil
	}))))
	res := h.step("v2")
	if !res.Done {
		t.Fatalf("refused upgrade not Done: %+v", res)
	}
	us := h.st.UpgradeStatus
	if us == nil || us.Phase != status.UpgradeFailed || h.st.RollbackCount != 0 || len(h.d.Creates())+len(h.d.Deletes()) != 0 {
		t.Fatalf("refusal: %+v creates %d", us, len(h.d.Creates()))
	}
	c := meta.FindStatusCondition(h.st.Conditions, status.ConditionProgressing)
	if c == nil || c.Reason != "PrecheckFailed" || !strings.Contains(c.Message, "not found") {
		t.Fatalf("condition %+v", c)
	}
	if h.count(upgrade.ReasonUpgradeFailed) != 1 {
		t.Fatalf("events %v", h.reasons())
	}
	h.step("v2")
	if calls != 1 {
		t.Fatalf("prechecks ran %d times without a change", calls)
	}
	refuse = false
	if err := h.upgrader().Retry(&h.st); err != nil {
		t.Fatal(err)
	}
	h.run("v2")
	if calls != 2 || h.st.CurrentVersion != "v2" {
		t.Fatalf("after Retry: calls %d current %s", calls, h.st.CurrentVersion)
	}
}

// TestPreUpgradeCheck: a custom pre-upgrade check gates each pod before it
// is stopped; one that never passes fails that pod after its timeout.
func TestPreUpgradeCheck(t *testing.T) {
	spec := "preUpgradeCheck:\n  enabled: true\n  type: custom\n  command: redis-cli INFO replication | grep master_link_status\n  expected: up\n  timeout: 30s\n  interval: 5s\n" + rollbackOn
	var checked []string
	h := newHarness(t, 3, spec, withDriverOpts(upgradetest.WithExec(func(tg verify.Target, cmd string) (string, error) {
		checked = append(checked, fmt.Sprintf("%s@%s", tg.Name, tg.Version))
		if tg.Index == 2 {
			return "master_link_status:down", nil
		}
		return "master_link_status:up", nil
	})))
	h.run("v2")
	us := h.st.UpgradeStatus
	if us.Phase != status.UpgradeRolledBack || len(us.Failures) != 1 || us.Failures[0].Index != 2 || us.Failures[0].Reason != "PreCheckFailed" {
		t.Fatalf("phase %s failures %+v", us.Phase, us.Failures)
	}
	if !strings.Contains(us.Failures[0].Error, "master_link_status:down") {
		t.Fatalf("failure does not show the output: %q", us.Failures[0].Error)
	}
	for _, c := range checked {
		if strings.HasSuffix(c, "@v2") {
			t.Fatalf("pre-upgrade check ran on a new pod: %s", c)
		}
	}
	// Slot 2's old pod was never stopped.
	for _, a := range h.d.Deletes() {
		if a.Pod == "redis-2" {
			t.Fatalf("slot 2 stopped although its pre-upgrade check failed")
		}
	}
}

// TestHealthCheckPre: the group health check waits for every other pod.
func TestHealthCheckPre(t *testing.T) {
	h := newHarness(t, 3, "preUpgradeCheck:\n  enabled: true\n  type: health-check\n  timeout: 30s\n"+rollbackOn)
	h.step("v2")
	_ = h.d.Kill("redis-2") // broken: goes first and is not blocked
	h.run("v2")
	if h.st.UpgradeStatus.Phase != status.UpgradeCompleted {
		t.Fatalf("phase %s: %s", h.st.UpgradeStatus.Phase, h.st.UpgradeStatus.Message)
	}
	if got := h.firstWrite(); got != 2 {
		t.Fatalf("first write on slot %d, want the broken slot 2", got)
	}
}

// TestVerifyPolicy: failures and errors are counted apart, against their
// thresholds, and flapping needs consecutive passes.
func TestVerifyPolicy(t *testing.T) {
	failed := &verify.FailedError{Type: verify.TypeExec, Reason: "no PONG"}
	tests := []struct {
		name       string
		spec       string
		results    []error // per attempt for slot 0 v2; then passes
		wantPhase  status.UpgradePhase
		wantReason string
		wantTries  int
	}{
		{"first pass", "", nil, status.UpgradeCompleted, "", 1},
		{"two failures under threshold 3", "", []error{failed, failed}, status.UpgradeCompleted, "", 3},
		{"three failures", "", []error{failed, failed, failed}, status.UpgradeRolledBack, "CheckFailed", 3},
		{"errors counted apart", "", []error{errors.New("dial tcp: refused"), failed, errors.New("refused"), failed}, status.UpgradeCompleted, "", 5},
		{"four errors", "", []error{errors.New("a"), errors.New("b"), errors.New("c"), errors.New("d")}, status.UpgradeRolledBack, "CheckError", 4},
		{"success threshold 2 with flapping", "  successThreshold: 2\n", []error{nil, failed, nil, nil}, status.UpgradeCompleted, "", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := "postUpgradeVerify:\n  enabled: true\n  type: exec\n  command: redis-cli ping\n  expected: PONG\n  interval: 5s\n" + tt.spec + rollbackOn
			tries := 0
			h := newHarness(t, 1, spec, withUpgraderOpts(upgrade.WithPostUpgradeVerifier(verify.Func(func(_ context.Context, tg verify.Target) error {
				if tg.Version != "v2" {
					return nil
				}
				tries++
				if tries <= len(tt.results) {
					return tt.results[tries-1]
				}
				return nil
			}))))
			h.run("v2")
			us := h.st.UpgradeStatus
			if us.Phase != tt.wantPhase || tries != tt.wantTries {
				t.Fatalf("phase %s after %d tries, want %s after %d", us.Phase, tries, tt.wantPhase, tt.wantTries)
			}
			if tt.wantReason != "" && (len(us.Failures) == 0 || us.Failures[0].Reason != tt.wantReason) {
				t.Fatalf("failures %+v, want reason %s", us.Failures, tt.wantReason)
			}
		})
	}
}

// TestBlockedMessage: the status says which pod, which wait, since when,
// and what the last check printed.
func TestBlockedMessage(t *testing.T) {
	h := newHarness(t, 3, "postUpgradeVerify:\n  enabled: true\n  type: exec\n  command: redis-cli ping\n  expected: PONG\n  failureThreshold: 5\n",
		withDriverOpts(upgradetest.WithExec(func(verify.Target, string) (string, error) { return "LOADING Redis is loading", nil })))
	for i := 0; i < 8; i++ {
		res := h.step("v2")
		h.clk.Step(res.RequeueAfter)
	}
	us := h.st.UpgradeStatus
	for _, want := range []string{"redis-0", "slot 0", "Verifying", "since", "LOADING"} {
		if !strings.Contains(us.Message, want) {
			t.Errorf("message %q lacks %q", us.Message, want)
		}
	}
	if us.CurrentIndex == nil || *us.CurrentIndex != 0 {
		t.Errorf("currentIndex %v", us.CurrentIndex)
	}
	c := meta.FindStatusCondition(h.st.Conditions, status.ConditionProgressing)
	if c == nil || c.Status != "True" || c.Message != us.Message {
		t.Errorf("Progressing %+v", c)
	}
}

func TestSpecPaused(t *testing.T) {
	h := newHarness(t, 4, "rollingUpdate:\n  paused: true\n")
	h.run("v2")
	if h.st.UpgradeStatus.Phase != status.UpgradePaused || len(h.d.Creates()) != 0 {
		t.Fatalf("paused spec: %s, %d creates", h.st.UpgradeStatus.Phase, len(h.d.Creates()))
	}
	h.spec.RollingUpdate.Paused = false
	h.run("v2")
	if h.st.UpgradeStatus.Phase != status.UpgradeCompleted {
		t.Fatalf("unpaused: %s", h.st.UpgradeStatus.Phase)
	}
}

// TestRetargetMidUpgrade: a new desired version mid-upgrade leaves no pod
// on the abandoned one.
func TestRetargetMidUpgrade(t *testing.T) {
	h := newHarness(t, 4, "")
	for i := 0; i < 6; i++ {
		res := h.step("v2")
		h.clk.Step(res.RequeueAfter)
	}
	h.run("v3")
	if !h.allAt("v3") || h.st.CurrentVersion != "v3" {
		t.Fatalf("after retarget: %s current %s", h.versions(), h.st.CurrentVersion)
	}
	// Back to the old version mid-upgrade is a rollback, not counted.
	h2 := newHarness(t, 4, "")
	for i := 0; i < 6; i++ {
		res := h2.step("v2")
		h2.clk.Step(res.RequeueAfter)
	}
	h2.run("v1")
	if !h2.allAt("v1") || h2.st.UpgradeStatus.Phase != status.UpgradeRolledBack || h2.st.RollbackCount != 0 {
		t.Fatalf("back to v1: %s %s", h2.versions(), h2.st.UpgradeStatus.Phase)
	}
}

// TestPlanHasNoSideEffects: Plan writes nothing and changes nothing, and
// says what Step then does.
func TestPlanHasNoSideEffects(t *testing.T) {
	h := newHarness(t, 5, "rollingUpdate:\n  partition: 2\n  maxUnavailable: 1\n")
	h.step("v2")
	before := h.st.DeepCopy()
	writes := len(h.d.Creates()) + len(h.d.Deletes())
	p, err := h.upgrader().Plan(context.Background(), &h.st, upgrade.Desired{Version: "v2", Replicas: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, &h.st) || len(h.d.Creates())+len(h.d.Deletes()) != writes {
		t.Fatal("Plan changed the status or wrote pods")
	}
	if !slices.Equal(p.Held, []int32{0, 1}) || !slices.Equal(p.Order, []int32{2, 3, 4}) || p.MaxSurge != 1 || p.MaxUnavailable != 1 {
		t.Fatalf("plan %+v", p)
	}
	s := p.String()
	for _, want := range []string{"v1 -> v2", "maxSurge 1, maxUnavailable 1", "order:   2, 3, 4", "held:    0, 1", "Create slot 2", "(surge)"} {
		if !strings.Contains(s, want) {
			t.Errorf("plan text lacks %q:\n%s", want, s)
		}
	}
	// Step does what Plan said.
	h.step("v2")
	var got []string
	for _, a := range h.d.Actions() {
		if a.Kind == upgradetest.ActionCreate || a.Kind == upgradetest.ActionDelete {
			got = append(got, fmt.Sprintf("%s %d", a.Kind, a.Index))
		}
	}
	var want []string
	for _, a := range p.Next {
		if a.Kind == upgrade.ActionCreate || a.Kind == upgrade.ActionDelete {
			want = append(want, fmt.Sprintf("%s %d", a.Kind, a.Index))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Step did %v, Plan said %v", got, want)
	}
}

// TestBadInputChangesNothing: bad desired states and nonsense from the
// driver are refused with the field or pod named, and nothing changes.
func TestBadInputChangesNothing(t *testing.T) {
	h := newHarness(t, 3, "")
	h.step("v2")
	before := h.st.DeepCopy()
	u := h.upgrader()
	for _, tt := range []struct {
		want upgrade.Desired
		msg  string
	}{
		{upgrade.Desired{Version: "", Replicas: 3}, "want.Version"},
		{upgrade.Desired{Version: "v2", Replicas: -1}, "want.Replicas"},
		{upgrade.Desired{Version: "v2", Replicas: 2}, "pod redis-2: index 2 is outside"},
	} {
		_, err := u.Step(context.Background(), &h.st, tt.want)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Step(%+v) = %v, want an error naming %q", tt.want, err, tt.msg)
		}
	}
	nonsense := []struct {
		name string
		mod  func([]upgrade.Pod) []upgrade.Pod
		msg  string
	}{
		{"no uid", func(p []upgrade.Pod) []upgrade.Pod { p[1].UID = ""; return p }, "pod redis-1: driver gave no UID"},
		{"dup uid", func(p []upgrade.Pod) []upgrade.Pod { p[1].UID = p[0].UID; return p }, "pod redis-1: UID"},
		{"no version", func(p []upgrade.Pod) []upgrade.Pod { p[2].Version = ""; return p }, "pod redis-2: driver gave no version"},
		{"negative index", func(p []upgrade.Pod) []upgrade.Pod { p[0].Index = -4; return p }, "pod redis-0: index -4"},
	}
	for _, n := range nonsense {
		bad := &mangler{PodDriver: h.d, mod: n.mod}
		ub, err := upgrade.New(bad, h.spec, upgrade.WithClock(h.clk))
		if err != nil {
			t.Fatal(err)
		}
		writes := len(h.d.Creates()) + len(h.d.Deletes())
		if _, err := ub.Step(context.Background(), &h.st, upgrade.Desired{Version: "v2", Replicas: 3}); err == nil || !strings.Contains(err.Error(), n.msg) {
			t.Errorf("%s: %v, want %q", n.name, err, n.msg)
		}
		if len(h.d.Creates())+len(h.d.Deletes()) != writes {
			t.Errorf("%s: pods written", n.name)
		}
	}
	if !reflect.DeepEqual(before, &h.st) {
		t.Fatal("status changed by bad input")
	}
}

type mangler struct {
	upgrade.PodDriver
	mod func([]upgrade.Pod) []upgrade.Pod
}

func (m *mangler) Pods(ctx context.Context) ([]upgrade.Pod, error) {
	p, err := m.PodDriver.Pods(ctx)
	if err != nil {
		return nil, err
	}
	return m.mod(p), nil
}

// TestDriverErrorsConverge: failing driver calls are reported, and the
// upgrade still converges with no slot deleted twice.
func TestDriverErrorsConverge(t *testing.T) {
	h := newHarness(t, 4, "rollingUpdate:\n  maxSurge: 1\n  maxUnavailable: 1\n")
	h.d.FailNth(upgradetest.ActionCreate, 2, errors.New("apiserver unavailable"))
	h.d.FailNth(upgradetest.ActionDelete, 1, errors.New("connection reset"))
	h.d.FailNth(upgradetest.ActionPods, 5, errors.New("cache not synced"))
	u := h.upgrader()
	h.checker = upgradetest.NewChecker(h.spec, h.replicas, "", "")
	var errs int
	for i := 0; i < 500; i++ {
		res, err := u.Step(context.Background(), &h.st, upgrade.Desired{Version: "v2", Replicas: 4})
		if err != nil {
			errs++
			if !strings.Contains(err.Error(), "upgrade:") {
				t.Fatalf("error without context: %v", err)
			}
		}
		if cerr := h.checker.CheckStep(&h.st, h.d); cerr != nil {
			t.Fatal(cerr)
		}
		if res.Done {
			break
		}
		h.clk.Step(max(res.RequeueAfter, time.Second))
	}
	if errs != 3 || !h.allAt("v2") || h.st.UpgradeStatus.Phase != status.UpgradeCompleted {
		t.Fatalf("errors %d, %s, %s", errs, h.versions(), h.st.UpgradeStatus.Phase)
	}
}

// TestStaleStatusAndViewConverge: a caller that loses every other status
// write, and a view that lags its writes, still converge with the budget
// held and no slot deleted twice.
func TestStaleStatusAndViewConverge(t *testing.T) {
	h := newHarness(t, 5, "rollingUpdate:\n  maxSurge: 1\n  maxUnavailable: 1\n")
	h.checker = upgradetest.NewChecker(h.spec, h.replicas, "", "")
	persisted := h.st.DeepCopy()
	for i := 0; i < 2000; i++ {
		if i%7 == 3 {
			h.d.StalePods(1, 2)
		}
		work := persisted.DeepCopy()
		res, err := h.upgrader().Step(context.Background(), work, upgrade.Desired{Version: "v2", Replicas: 5})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 { // the caller crashed before persisting half the time
			persisted = work
		}
		if err := h.checker.CheckStep(work, h.d); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if res.Done && i%2 == 0 {
			break
		}
		h.clk.Step(res.RequeueAfter)
	}
	if !h.allAt("v2") || persisted.CurrentVersion != "v2" {
		t.Fatalf("not converged: %s, %+v", h.versions(), persisted.UpgradeStatus)
	}
}

// TestMissingPodsRecreated: a pod that vanishes while idle or mid-upgrade
// is recreated at its slot's version.
func TestMissingPodsRecreated(t *testing.T) {
	h := newHarness(t, 3, "")
	h.run("v1")
	_ = h.d.Remove("redis-1")
	h.run("v1")
	if !h.allAt("v1") {
		t.Fatalf("idle: %s", h.versions())
	}
	h.step("v2")
	_ = h.d.Remove("redis-2")
	h.run("v2")
	if !h.allAt("v2") {
		t.Fatalf("mid-upgrade: %s", h.versions())
	}
}

// TestRunOnFakeClock: Run sleeps on the injected clock.
func TestRunOnFakeClock(t *testing.T) {
	h := newHarness(t, 3, "")
	u := h.upgrader()
	done := make(chan error, 1)
	go func() { done <- u.Run(context.Background(), &h.st, upgrade.Desired{Version: "v2", Replicas: 3}) }()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if !h.allAt("v2") {
				t.Fatalf("Run ended early: %s", h.versions())
			}
			return
		default:
			if h.clk.HasWaiters() {
				h.clk.Step(time.Second)
			}
		}
	}
}

func TestConditions(t *testing.T) {
	h := newHarness(t, 3, "")
	h.step("v2")
	h.clk.Step(0)
	h.step("v2")
	p := meta.FindStatusCondition(h.st.Conditions, status.ConditionProgressing)
	a := meta.FindStatusCondition(h.st.Conditions, status.ConditionAvailable)
	if p == nil || p.Reason != "Upgrading" || a == nil || a.Status != "True" {
		t.Fatalf("conditions %+v", h.st.Conditions)
	}
	if !p.LastTransitionTime.Time.Equal(t0) {
		t.Fatalf("condition time %v not from the injected clock", p.LastTransitionTime)
	}
	h.run("v2")
	p = meta.FindStatusCondition(h.st.Conditions, status.ConditionProgressing)
	if p.Reason != "Completed" || p.Status != "False" {
		t.Fatalf("Progressing %+v", p)
	}
}

// TestPodUpgradedOncePerSlot: a verified surge pod that loses Ready for a
// moment (its role changed at failover) is verified again before the old
// pod goes, but announced once.
func TestPodUpgradedOncePerSlot(t *testing.T) {
	h := newHarness(t, 2, "rollingUpdate:\n  order: PrimaryLast\npostUpgradeVerify:\n  enabled: true\n  type: health-check\n",
		withDriverOpts(upgradetest.WithPrimary(0), upgradetest.WithFailoverDelay(time.Second)))
	h.d.PrependReactor(upgradetest.ActionFailover, func(a upgradetest.Action) (bool, error) {
		for _, p := range h.d.Truth() {
			if p.Index == a.Index && p.Name != a.Pod && !p.Terminating {
				_ = h.d.SetReadyAt(p.Name, false, h.clk.Now())
				_ = h.d.SetReadyAt(p.Name, true, h.clk.Now().Add(3*time.Second))
			}
		}
		return false, nil
	})
	h.run("v2")
	if !h.allAt("v2") {
		t.Fatalf("not upgraded: %s", h.versions())
	}
	if got := h.count(upgrade.ReasonPodUpgraded); got != 2 {
		t.Fatalf("PodUpgraded sent %d times for 2 slots: %v", got, h.reasons())
	}
}

// TestInPlaceNextOnlyAfterVerified: with maxUnavailable 1, the next pod is
// stopped only after the previous one's verification passed, not as soon
// as it is Ready.
func TestInPlaceNextOnlyAfterVerified(t *testing.T) {
	spec := "rollingUpdate:\n  maxSurge: 0\n  maxUnavailable: 1\npostUpgradeVerify:\n  enabled: true\n  type: exec\n  command: redis-cli ping\n  expected: PONG\n  interval: 5s\n  failureThreshold: 10\n"
	var verifiedAt = map[int32]time.Time{}
	h := newHarness(t, 3, spec)
	h.opts = append(h.opts, upgrade.WithPostUpgradeVerifier(verify.Func(func(_ context.Context, tg verify.Target) error {
		// Each new pod needs 20 s after it is Ready to answer PONG.
		p, _ := h.d.Pod(tg.Name)
		if h.clk.Since(p.Created) < 25*time.Second {
			return &verify.FailedError{Type: verify.TypeExec, Reason: "LOADING"}
		}
		if _, ok := verifiedAt[tg.Index]; !ok {
			verifiedAt[tg.Index] = h.clk.Now()
		}
		return nil
	})))
	h.run("v2")
	if !h.allAt("v2") {
		t.Fatalf("not upgraded: %s", h.versions())
	}
	for _, a := range h.d.Deletes() {
		if a.Index == 0 || !a.Effective {
			continue
		}
		prev, ok := verifiedAt[a.Index-1]
		if !ok || a.Time.Before(prev) {
			t.Fatalf("slot %d stopped at %v, before slot %d was verified (%v)", a.Index, a.Time, a.Index-1, prev)
		}
	}
}

// TestPlanOrder: Plan lists the slots still to move in the order Step moves
// them: broken pods first, then the order policy.
func TestPlanOrder(t *testing.T) {
	tests := []struct {
		order string
		want  []int32
	}{
		{"Ordinal", []int32{3, 0, 1, 2, 4}},
		{"ReverseOrdinal", []int32{3, 4, 2, 1, 0}},
		{"PrimaryLast", []int32{3, 0, 2, 4, 1}},
		// Estimates 10s, 40s, 90s, 40s, 0: broken slot 3 first, then
		// longest first, the primary (slot 1) last.
		{"LongestFirst", []int32{3, 2, 0, 4, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.order, func(t *testing.T) {
			h := newHarness(t, 5, "rollingUpdate:\n  order: "+tt.order+"\n", withDriverOpts(upgradetest.WithPrimary(1), withEstimates(10, 40, 90, 40, 0)))
			_ = h.d.Kill("redis-3")
			p, err := h.upgrader().Plan(context.Background(), &h.st, upgrade.Desired{Version: "v2", Replicas: 5})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Order, tt.want) {
				t.Fatalf("Plan order %v, want %v", p.Order, tt.want)
			}
		})
	}
}

// withEstimates makes the driver estimate seconds[i] for slot i's pods at
// v1 (0 for the new version: nothing is left to move there).
func withEstimates(seconds ...int) upgradetest.Option {
	return upgradetest.WithEstimate(func(p upgrade.Pod) time.Duration {
		if p.Version != "v1" || int(p.Index) >= len(seconds) {
			return 0
		}
		return time.Duration(seconds[p.Index]) * time.Second
	})
}

// TestLongestFirstFillsTheBudget: with two units and one slow pod, the
// slow pod starts first and the quick ones share the other unit, so the
// upgrade ends when the slow one does; index order would start it last.
func TestLongestFirstFillsTheBudget(t *testing.T) {
	slow := func(i int32, v string) time.Duration {
		if i == 3 && v == "v2" {
			return 10 * time.Minute
		}
		return time.Minute
	}
	elapsed := map[string]time.Duration{}
	for _, order := range []string{"Ordinal", "LongestFirst"} {
		h := newHarness(t, 4, "rollingUpdate:\n  order: "+order+"\n  maxSurge: 0\n  maxUnavailable: 2\n",
			withDriverOpts(upgradetest.WithStartDelay(slow), withEstimates(60, 60, 60, 600)))
		h.run("v2")
		if got := h.createOrder(); order == "LongestFirst" && !slices.Contains(got[:2], 3) {
			t.Fatalf("LongestFirst created %v: the slow slot 3 not in the first round", got)
		}
		elapsed[order] = h.clk.Now().Sub(t0)
	}
	// The slow pod alone takes 10m: LongestFirst ends near it, Ordinal
	// about 2m later (it starts the slow pod after the first round).
	if lf, ord := elapsed["LongestFirst"], elapsed["Ordinal"]; lf >= ord || lf > 11*time.Minute {
		t.Fatalf("LongestFirst took %v, Ordinal %v", lf, ord)
	}
}

// TestNegativeEstimate: a driver estimate below zero is bad input.
func TestNegativeEstimate(t *testing.T) {
	h := newHarness(t, 2, "rollingUpdate:\n  order: LongestFirst\n", withDriverOpts(upgradetest.WithEstimate(func(upgrade.Pod) time.Duration { return -time.Second })))
	before := h.st
	_, err := h.upgrader().Step(context.Background(), &h.st, upgrade.Desired{Version: "v2", Replicas: 2})
	if err == nil || !strings.Contains(err.Error(), "pod redis-0: driver gave a negative estimate -1s") {
		t.Fatalf("error %v, want one naming pod redis-0's negative estimate", err)
	}
	if !reflect.DeepEqual(h.st, before) {
		t.Fatalf("status changed on bad input: %+v", h.st)
	}
}

// TestPlanOrderObserved: mid-upgrade, Plan builds its order from the
// Step's observation of the slots; it must be the order the pod list
// alone gives, at every Step of upgrades and rollbacks under each order,
// with broken and primary pods.
func TestPlanOrderObserved(t *testing.T) {
	for _, order := range []string{"Ordinal", "ReverseOrdinal", "PrimaryLast", "LongestFirst"} {
		t.Run(order, func(t *testing.T) {
			h := newHarness(t, 7, "rollingUpdate:\n  order: "+order+"\n  maxSurge: 1\n  maxUnavailable: 1\n  partition: 1\n",
				withDriverOpts(upgradetest.WithPrimary(4), withEstimates(5, 50, 20, 20, 90, 0, 70)))
			_ = h.d.Kill("redis-2")
			compared := 0
			for _, version := range []string{"v2", "v1"} { // the upgrade, then back
				for i := 0; i < 5000; i++ {
					want := upgrade.Desired{Version: version, Replicas: 7}
					fast, slow := h.upgrader(), h.upgrader()
					upgrade.OrderFromPods(slow)
					pf, err1 := fast.Plan(context.Background(), &h.st, want)
					ps, err2 := slow.Plan(context.Background(), &h.st, want)
					if err1 != nil || err2 != nil {
						t.Fatal(err1, err2)
					}
					if !reflect.DeepEqual(pf, ps) {
						t.Fatalf("step %d: Plan from the observation\n%v\ndiffers from Plan from the pods\n%v", h.steps, pf, ps)
					}
					if len(pf.Order) > 1 {
						compared++
					}
					res := h.step(version)
					if res.Done {
						break
					}
					h.clk.Step(res.RequeueAfter)
				}
			}
			if compared < 10 {
				t.Fatalf("only %d Plans had an order of two slots or more", compared)
			}
		})
	}
}

// TestHealthCheckPrecheckNamesTheBrokenSlot: a health-check pre-upgrade
// check refuses to stop a pod while a pod the upgrade does not move (here
// below the partition) is not ready, names that slot, and fails the slot
// at the check's timeout.
func TestHealthCheckPrecheckNamesTheBrokenSlot(t *testing.T) {
	h := newHarness(t, 4, "rollingUpdate:\n  partition: 2\n  maxSurge: 0\n  maxUnavailable: 2\npreUpgradeCheck:\n  enabled: true\n  type: health-check\n  timeout: 3s\n  interval: 1s\n")
	if err := h.d.Kill("redis-0"); err != nil {
		t.Fatal(err)
	}
	h.run("v2")
	us := h.st.UpgradeStatus
	if us.Phase != status.UpgradeFailed || len(us.Failures) == 0 {
		t.Fatalf("phase %s, failures %+v", us.Phase, us.Failures)
	}
	if f := us.Failures[0]; f.Reason != "PreCheckFailed" || !strings.Contains(f.Error, "not every pod of the group is Ready: [slot 0]") {
		t.Fatalf("failure %+v, want the pre-check naming slot 0", f)
	}
	for _, p := range h.d.Truth() {
		if p.Version != "v1" {
			t.Fatalf("pod %s runs %s: the pre-check let a stop through", p.Name, p.Version)
		}
	}
}
