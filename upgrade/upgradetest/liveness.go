package upgradetest

import (
	"fmt"
	"strings"
	"time"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
)

// Settled reports whether st shows no attempt moving: no attempt at all, or
// one that is Completed, Paused, RolledBack or Failed. It is the goal of
// L1 (see Settle).
func Settled(st *status.Status) bool {
	if st == nil || st.UpgradeStatus == nil {
		return true
	}
	switch st.UpgradeStatus.Phase {
	case status.UpgradeCompleted, status.UpgradePaused, status.UpgradeRolledBack, status.UpgradeFailed:
		return true
	}
	return false
}

// StepFunc runs one Upgrader.Step (on a fresh Upgrader or not) with the
// status last persisted, persists what it returned, and returns the Result,
// that status and Step's error. Checking invariants after the Step is the
// function's business.
type StepFunc func() (upgrade.Result, *status.Status, error)

// Settle checks the reaching half of L1: with faults stopped and the
// desired state fixed, the group settles within a bounded number of Steps.
// It calls step until a Step returns Result.Done with a Settled status,
// stepping clk by each Result.RequeueAfter, at most maxSteps times, and
// returns how many Steps it took. It returns a Violation of rule L1 when a
// Step fails (faults are stopped: nothing should fail), when a Step says
// Done while the attempt still moves (nothing would call it again), or when
// maxSteps Steps were not enough.
func Settle(clk interface{ Step(time.Duration) }, maxSteps int, step StepFunc) (int, error) {
	var last *status.Status
	for n := 1; n <= maxSteps; n++ {
		res, st, err := step()
		last = st
		if err != nil {
			return n, Violation{Rule: RuleSettles, Index: -1, Message: fmt.Sprintf("Step %d failed with faults stopped: %v", n, err)}
		}
		if res.Done {
			if Settled(st) {
				return n, nil
			}
			return n, Violation{Rule: RuleSettles, Index: -1, Message: fmt.Sprintf("Step %d returned Done while the attempt is %s: %s", n, phaseOf(st.UpgradeStatus), describeStatus(st))}
		}
		clk.Step(res.RequeueAfter)
	}
	return maxSteps, Violation{Rule: RuleSettles, Index: -1, Message: fmt.Sprintf("not settled after %d Steps: %s", maxSteps, describeStatus(last))}
}

// Stable checks the staying half of L1: once settled, the group stays
// there. It calls step n times, stepping d's clock by every before each, and
// returns a Violation of rule L1 when a Step fails, is not Done, changes
// the phases, CurrentVersion or RollbackCount of the status it was given,
// or writes through d (an effective Create, Delete or Failover).
func Stable(d *Driver, n int, every time.Duration, step StepFunc) error {
	var before *status.Status
	since := d.lastSeq()
	for k := 1; k <= n; k++ {
		d.Clock().Step(every)
		res, st, err := step()
		if err != nil {
			return Violation{Rule: RuleSettles, Index: -1, Message: fmt.Sprintf("settled group: Step %d failed: %v", k, err)}
		}
		if !res.Done {
			return Violation{Rule: RuleSettles, Index: -1, Message: fmt.Sprintf("settled group: Step %d is not Done (requeue after %s): %s", k, res.RequeueAfter, describeStatus(st))}
		}
		if before != nil && settledKey(before) != settledKey(st) {
			return Violation{Rule: RuleSettles, Index: -1, Message: fmt.Sprintf("settled group moved at Step %d: %s, then %s", k, settledKey(before), settledKey(st))}
		}
		before = st.DeepCopy()
		for _, a := range d.actionsSince(since) {
			if a.Effective && (a.Kind == ActionCreate || a.Kind == ActionDelete || a.Kind == ActionFailover) {
				return Violation{Rule: RuleSettles, Index: a.Index, Seq: a.Seq, Message: fmt.Sprintf("settled group wrote at Step %d: %s (%s)", k, a, describeStatus(st))}
			}
		}
		since = d.lastSeq()
	}
	return nil
}

func settledKey(st *status.Status) string {
	return fmt.Sprintf("phase %s/%s, currentVersion %q, rollbackCount %d", st.Phase, phaseOf(st.UpgradeStatus), st.CurrentVersion, st.RollbackCount)
}

func describeStatus(st *status.Status) string {
	if st == nil {
		return "no status"
	}
	s := settledKey(st)
	if us := st.UpgradeStatus; us != nil {
		s += fmt.Sprintf(", %s -> %s", us.FromVersion, us.ToVersion)
		if us.Message != "" {
			s += ": " + us.Message
		}
	}
	return s
}

// CheckRolledBack checks L2 on a group whose attempt is RolledBack: pods
// (the truth: Driver.Truth) are exactly one pod per slot 0..replicas-1,
// each running the attempt's FromVersion and not terminating, with no
// other pod listed (no surge pod left), and CurrentVersion is FromVersion.
// It returns nil when st's attempt is not RolledBack.
func CheckRolledBack(st *status.Status, replicas int32, pods []upgrade.Pod) error {
	if st == nil || st.UpgradeStatus == nil || st.UpgradeStatus.Phase != status.UpgradeRolledBack {
		return nil
	}
	from := st.UpgradeStatus.FromVersion
	var bad []string
	if st.CurrentVersion != from {
		bad = append(bad, fmt.Sprintf("currentVersion is %q", st.CurrentVersion))
	}
	for i := range replicas {
		ps := slotPods(pods, i)
		if len(ps) != 1 {
			bad = append(bad, fmt.Sprintf("slot %d has %d pods (%s)", i, len(ps), names(ps)))
			continue
		}
		if p := ps[0]; p.Version != from || p.Terminating {
			bad = append(bad, fmt.Sprintf("slot %d runs %s at %s (terminating %t)", i, p.Name, p.Version, p.Terminating))
		}
	}
	for _, p := range pods {
		if p.Index < 0 || p.Index >= replicas {
			bad = append(bad, fmt.Sprintf("pod %s is outside the slots", p.Name))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return Violation{Rule: RuleRolledBack, Index: -1, Message: fmt.Sprintf("rolled back to %s but %s", from, strings.Join(bad, "; "))}
}

// lastSeq returns the Seq of the latest recorded action.
func (d *Driver) lastSeq() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seq
}

// CheckSettled checks that a settled group is what its status says, on
// pods (the truth, once faults stopped; see Settle): Completed means every
// slot has exactly one pod, running ToVersion and not terminating, and no
// other pod is listed; Paused by the partition means the same for the
// slots at and above UpgradeStatus.Partition, the slots below it running
// FromVersion (do not call it on a group paused by
// spec.rollingUpdate.paused, which may stop anywhere); RolledBack is L2 (see CheckRolledBack). A Failed attempt
// leaves pods as they are and is not judged. It returns a Violation of
// rule S6 (L2 for RolledBack), or nil.
func CheckSettled(st *status.Status, replicas int32, pods []upgrade.Pod) error {
	if st == nil || st.UpgradeStatus == nil {
		return nil
	}
	us := st.UpgradeStatus
	var bad []string
	want := func(i int32) string {
		if us.Phase == status.UpgradePaused && i < us.Partition {
			return us.FromVersion
		}
		return us.ToVersion
	}
	switch us.Phase {
	case status.UpgradeRolledBack:
		return CheckRolledBack(st, replicas, pods)
	case status.UpgradeCompleted:
		if st.CurrentVersion != us.ToVersion {
			bad = append(bad, fmt.Sprintf("currentVersion is %q", st.CurrentVersion))
		}
	case status.UpgradePaused:
	default:
		return nil
	}
	for i := range replicas {
		ps := slotPods(pods, i)
		if len(ps) != 1 {
			bad = append(bad, fmt.Sprintf("slot %d has %d pods (%s)", i, len(ps), names(ps)))
			continue
		}
		if p := ps[0]; p.Version != want(i) || p.Terminating {
			bad = append(bad, fmt.Sprintf("slot %d runs %s at %s (terminating %t), not %s", i, p.Name, p.Version, p.Terminating, want(i)))
		}
	}
	for _, p := range pods {
		if p.Index < 0 || p.Index >= replicas {
			bad = append(bad, fmt.Sprintf("pod %s is outside the slots", p.Name))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return Violation{Rule: RuleStatus, Index: -1, Message: fmt.Sprintf("upgrade %s -> %s is %s but %s", us.FromVersion, us.ToVersion, us.Phase, strings.Join(bad, "; "))}
}
