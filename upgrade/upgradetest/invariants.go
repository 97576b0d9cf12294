package upgradetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
)

// Invariant rules a Checker reports.
const (
	// RulePodBudget (S1): never more than replicas + maxSurge pods listed,
	// terminating ones included.
	RulePodBudget = "S1"
	// RuleAvailability (S2): never more than maxUnavailable slots without
	// a ready pod because of the engine's deletes.
	RuleAvailability = "S2"
	// RulePartition (S3): slots below the partition are never touched.
	RulePartition = "S3"
	// RuleOnce (S4): a slot is replaced once per transition.
	RuleOnce = "S4"
	// RulePrimary (S5): a primary is not deleted while it holds the role.
	RulePrimary = "S5"
	// RuleStatus (S6): the status is consistent.
	RuleStatus = "S6"
	// RuleRollbackCount (S7): the rollback count moves as the policy says.
	RuleRollbackCount = "S7"
	// RuleVersions (S8): pods are created only at the from or to version.
	RuleVersions = "S8"
)

// Violation is one broken invariant.
type Violation struct {
	// Rule is one of the Rule* constants ("S1".."S8").
	Rule string
	// Index is the slot concerned, -1 for the whole group.
	Index int32
	// Seq is the driver action that broke the rule (see Action.Seq); 0 when
	// it was seen in the pods or status given to a check.
	Seq int
	// Message says what happened, naming pods, counts and limits.
	Message string
}

// Error returns "S<n>: message".
func (v Violation) Error() string { return v.Rule + ": " + v.Message }

// CheckerOption configures a Checker.
type CheckerOption func(*Checker)

// StrictAvailability adds the pinned budget rule of the contract to S2: an
// effective Delete that leaves its slot without a ready pod is allowed only
// while fewer than maxUnavailable slots, whatever the cause, have no ready
// pod. It judges by the truth at the delete, so do not combine it with
// SetLag, StalePods or faults injected between an engine's Pods and Delete
// calls: the engine cannot see what its view does not show.
func StrictAvailability() CheckerOption { return func(c *Checker) { c.strict = true } }

// FailoverCapable says whether the driver the engine uses can fail over,
// which S5 needs. CheckStep asks the Driver (Driver.CanFailover) unless this
// option is given; Check assumes false unless it is given.
func FailoverCapable(can bool) CheckerOption {
	return func(c *Checker) { c.failover = &can }
}

// Checker checks the invariants of a rolling upgrade over the successive
// states of one group, learning as it goes: call CheckStep (with a *Driver,
// exact) or Check (with pods from any driver, approximate) after every
// Upgrader.Step, and CheckStatus for the status rules. A Checker is not safe
// for concurrent use.
//
// The rules:
//
//   - S1: the pods listed, terminating ones included, never exceed
//     replicas + maxSurge (upgrade.Spec.Budget). CheckStep checks the truth
//     after every Create as well as at the check.
//   - S2: the slots without a ready, non-terminating pod because of the
//     engine never exceed maxUnavailable. A slot counts from an effective
//     Delete whose Before shows the slot with a ready pod and whose After
//     shows it without one, until the slot is seen with a ready pod again.
//     Slots that went down otherwise (Kill, FailPods, NeverReady on a pod
//     the engine created while the slot was already down, Remove) do not
//     count. Check, without an action log, counts a slot from the first
//     check where a pod of it that was seen ready at the previous check is
//     terminating or gone and the slot has no ready pod; pods removed by a
//     fault are then taken for the engine's deletes. See also
//     StrictAvailability.
//   - S3: no pod of a slot below the partition is deleted (effective
//     deletes; with Check, a pod seen terminating), and no pod is created
//     there except when the slot has no running pod, at the version the
//     slot last had (the from version if never seen). SetPartition follows
//     a changed partition.
//   - S4: a transition of a slot runs from the first effective Create or
//     Delete after the slot was last seen settled (exactly one pod listed
//     for it, ready, not terminating) until it is seen settled again, or
//     the attempt or its direction changes (status: FromVersion,
//     ToVersion, StartedAt, rolling back or not). Within one, at most one
//     pod that was ready is effectively deleted (replacing pods that are
//     not ready is always allowed), and no second pod is created while the
//     one created earlier in it still runs (not terminating).
//   - S5: an effective Delete never hits a pod that still holds the
//     primary role while the driver can fail over (see FailoverCapable)
//     and another ready pod exists to take the role.
//   - S8: every pod created runs the from or the to version (given to
//     NewChecker, else read from the status's UpgradeStatus at each check).
//     Check only judges pods it did not see at its first call.
//
// Observations: CheckStep reads the Driver's action log since its previous
// call and judges every Create and Delete by the truth just before and after
// it (Action.Before/After), then the truth at the check; actions whose
// effect did not happen (refused, handled by a reactor) are skipped. Check
// compares the pods given with those of its previous call.
//
// S1 and S2 are states: each is reported when it starts and again only when
// it gets worse or after it has cleared. Every violation is kept (see
// Violations and Err).
type Checker struct {
	spec                upgrade.Spec
	replicas            int32
	maxSurge, maxUnav   int32
	partition           int32
	fixedFrom, fixedTo  string
	from, to            string
	strict              bool
	failover            *bool
	driverFailover      bool
	key                 string
	lastSeq             int
	seen                bool
	prev                []upgrade.Pod
	initial             map[string]bool
	slots               map[int32]*slotTrack
	levels              map[string]int
	violations          []Violation
	fresh               []Violation
	rollbackCount       int32
	statusSeen          bool
	rollbackLimit       int32
	rollbackAutoAllowed bool
}

type slotTrack struct {
	engineDown bool
	version    string
	tr         *transition
}

type transition struct {
	readyDeletes []string
	created      string // UID
	createdName  string
}

// NewChecker returns a Checker for a group of replicas slots upgraded under
// spec (defaulted here) from one version to another. from and to may be
// empty: they are then read from the status at every check.
func NewChecker(spec upgrade.Spec, replicas int32, from, to string, opts ...CheckerOption) *Checker {
	spec.Default()
	c := &Checker{spec: spec, replicas: replicas, fixedFrom: from, fixedTo: to, from: from, to: to,
		slots: map[int32]*slotTrack{}, levels: map[string]int{}, initial: map[string]bool{}}
	c.maxSurge, c.maxUnav = spec.Budget(replicas)
	if p := spec.RollingUpdate.Partition; p != nil {
		c.partition = *p
	}
	c.rollbackLimit = spec.Rollback.LimitOrDefault()
	c.rollbackAutoAllowed = spec.Rollback.Enabled && spec.Rollback.OnFailure
	for _, o := range opts {
		o(c)
	}
	return c
}

// SetPartition tells the Checker the partition changed (S3).
func (c *Checker) SetPartition(p int32) { c.partition = p }

// Violations returns every violation found so far, oldest first.
func (c *Checker) Violations() []Violation { return slices.Clone(c.violations) }

// Err joins every violation found so far; nil when there is none.
func (c *Checker) Err() error { return joinViolations(c.violations) }

func joinViolations(vs []Violation) error {
	if len(vs) == 0 {
		return nil
	}
	errs := make([]error, len(vs))
	for i, v := range vs {
		errs[i] = v
	}
	return errors.Join(errs...)
}

func (c *Checker) report(rule string, index int32, seq int, format string, args ...any) {
	v := Violation{Rule: rule, Index: index, Seq: seq, Message: fmt.Sprintf(format, args...)}
	if seq > 0 {
		v.Message += fmt.Sprintf(" (action #%d)", seq)
	}
	c.violations = append(c.violations, v)
	c.fresh = append(c.fresh, v)
}

// level reports a state rule when value exceeds limit and is worse than
// what was last reported.
func (c *Checker) level(key, rule string, value, limit int32, seq int, msg func() string) {
	if value <= limit {
		c.levels[key] = 0
		return
	}
	if int(value) > c.levels[key] {
		c.levels[key] = int(value)
		c.report(rule, -1, seq, "%s", msg())
	}
}

func (c *Checker) slot(i int32) *slotTrack {
	s := c.slots[i]
	if s == nil {
		s = &slotTrack{}
		c.slots[i] = s
	}
	return s
}

func (c *Checker) open(i int32) *transition {
	s := c.slot(i)
	if s.tr == nil {
		s.tr = &transition{}
	}
	return s.tr
}

func (c *Checker) canFailover() bool {
	if c.failover != nil {
		return *c.failover
	}
	return c.driverFailover
}

// learn reads versions and the attempt from the status.
func (c *Checker) learn(st *status.Status) {
	c.fresh = nil
	var us *status.UpgradeStatus
	if st != nil {
		us = st.UpgradeStatus
	}
	c.from, c.to = c.fixedFrom, c.fixedTo
	if us == nil {
		return
	}
	if c.from == "" {
		c.from = us.FromVersion
	}
	if c.to == "" {
		c.to = us.ToVersion
	}
	started := ""
	if us.StartedAt != nil {
		started = us.StartedAt.UTC().String()
	}
	back := us.Phase == status.UpgradeRollingBack || us.Phase == status.UpgradeRolledBack || st.Phase == status.PhaseRollingBack
	key := fmt.Sprintf("%s>%s@%s/%t", us.FromVersion, us.ToVersion, started, back)
	if key != c.key {
		for _, s := range c.slots {
			s.tr = nil
		}
		c.key = key
	}
}

func hasReady(pods []upgrade.Pod, i int32) bool {
	return slices.ContainsFunc(pods, func(p upgrade.Pod) bool { return p.Index == i && p.Ready && !p.Terminating })
}

func findUID(pods []upgrade.Pod, uid string) (upgrade.Pod, bool) {
	i := slices.IndexFunc(pods, func(p upgrade.Pod) bool { return p.UID == uid })
	if i < 0 {
		return upgrade.Pod{}, false
	}
	return pods[i], true
}

func running(pods []upgrade.Pod, uid string) bool {
	p, ok := findUID(pods, uid)
	return ok && !p.Terminating
}

func names(pods []upgrade.Pod) string {
	var b strings.Builder
	for i, p := range pods {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Name)
		if p.Terminating {
			b.WriteString(" (terminating)")
		}
	}
	return b.String()
}

// observe judges the state rules on pods and learns settled slots and
// versions.
func (c *Checker) observe(pods []upgrade.Pod, seq int, where string) {
	n := int32(len(pods))
	limit := c.replicas + c.maxSurge
	c.level("S1", RulePodBudget, n, limit, seq, func() string {
		return fmt.Sprintf("%d pods listed %s (%s); the budget is replicas %d + maxSurge %d = %d",
			n, where, names(pods), c.replicas, c.maxSurge, limit)
	})
	var down []int32
	for i := range c.replicas {
		s := c.slot(i)
		if hasReady(pods, i) {
			s.engineDown = false
		} else if s.engineDown {
			down = append(down, i)
		}
	}
	c.level("S2", RuleAvailability, int32(len(down)), c.maxUnav, seq, func() string {
		return fmt.Sprintf("%d slots %v have no ready pod %s because the upgrade deleted their pods; maxUnavailable is %d",
			len(down), down, where, c.maxUnav)
	})
	bySlot := map[int32][]upgrade.Pod{}
	for _, p := range pods {
		bySlot[p.Index] = append(bySlot[p.Index], p)
	}
	for i, ps := range bySlot {
		s := c.slot(i)
		if len(ps) == 1 && ps[0].Ready && !ps[0].Terminating {
			s.tr = nil
		}
		var newest *upgrade.Pod
		for k := range ps {
			if !ps[k].Terminating && (newest == nil || !ps[k].Created.Before(newest.Created)) {
				newest = &ps[k]
			}
		}
		if newest != nil {
			s.version = newest.Version
		}
	}
}

// onCreate judges a pod created for slot i. before is the group just
// before (with Check: the pods of the previous check still running now).
func (c *Checker) onCreate(p upgrade.Pod, before []upgrade.Pod, seq int) {
	i := p.Index
	if i < c.partition {
		var live []upgrade.Pod
		for _, q := range before {
			if q.Index == i && !q.Terminating {
				live = append(live, q)
			}
		}
		want := c.slot(i).version
		if want == "" {
			want = c.from
		}
		switch {
		case len(live) > 0:
			c.report(RulePartition, i, seq, "created pod %s at %s for slot %d below the partition %d, which still runs %s",
				p.Name, p.Version, i, c.partition, names(live))
		case want != "" && p.Version != want:
			c.report(RulePartition, i, seq, "recreated pod %s for slot %d below the partition %d at %s; the slot had %s",
				p.Name, i, c.partition, p.Version, want)
		}
	}
	if c.from != "" && c.to != "" && p.Version != c.from && p.Version != c.to {
		c.report(RuleVersions, i, seq, "created pod %s for slot %d at %s, neither the from version %s nor the to version %s",
			p.Name, i, p.Version, c.from, c.to)
	}
	tr := c.open(i)
	if tr.created != "" && running(before, tr.created) {
		c.report(RuleOnce, i, seq, "created pod %s for slot %d while %s, created earlier in the same transition, still runs",
			p.Name, i, tr.createdName)
	}
	tr.created, tr.createdName = p.UID, p.Name
}

// onDelete judges target being deleted: before and after are the group
// around it. sure is false when the pod may have vanished by a fault.
func (c *Checker) onDelete(target upgrade.Pod, before, after []upgrade.Pod, seq int, sure bool) {
	i := target.Index
	wasReady := target.Ready && !target.Terminating
	if hasReady(before, i) && !hasReady(after, i) && i >= 0 && i < c.replicas {
		c.slot(i).engineDown = true
		if c.strict && sure {
			var downBefore []int32
			for k := range c.replicas {
				if !hasReady(before, k) {
					downBefore = append(downBefore, k)
				}
			}
			if int32(len(downBefore)) >= c.maxUnav {
				c.report(RuleAvailability, i, seq, "stopped ready pod %s of slot %d while %d slots %v already had no ready pod; maxUnavailable is %d",
					target.Name, i, len(downBefore), downBefore, c.maxUnav)
			}
		}
	}
	if sure && i < c.partition {
		c.report(RulePartition, i, seq, "deleted pod %s of slot %d below the partition %d", target.Name, i, c.partition)
	}
	tr := c.open(i)
	if wasReady {
		tr.readyDeletes = append(tr.readyDeletes, target.Name)
		if len(tr.readyDeletes) > 1 {
			c.report(RuleOnce, i, seq, "slot %d lost a ready pod twice in one transition: %s",
				i, strings.Join(tr.readyDeletes, " then "))
		}
	}
	if sure && target.Primary && c.canFailover() {
		other := slices.ContainsFunc(before, func(p upgrade.Pod) bool {
			return p.UID != target.UID && p.Ready && !p.Terminating
		})
		if other {
			c.report(RulePrimary, i, seq, "deleted pod %s of slot %d while it still held the primary role; fail over first and wait until the role has moved",
				target.Name, i)
		}
	}
}

// brief names a mutating action in a violation message.
func brief(a Action) string {
	if a.Kind == ActionCreate {
		surge := ""
		if a.Surge {
			surge = ", surge"
		}
		return fmt.Sprintf("Create %s (slot %d at %s%s)", a.Pod, a.Index, a.Version, surge)
	}
	return fmt.Sprintf("%s %s", a.Kind, a.Pod)
}

// action judges one recorded driver call.
func (c *Checker) action(a Action) {
	if a.Before == nil || a.After == nil {
		return
	}
	c.observe(a.Before, a.Seq, "before "+brief(a))
	if a.Effective {
		switch a.Kind {
		case ActionCreate:
			if p, ok := findUID(a.After, a.UID); ok {
				c.onCreate(p, a.Before, a.Seq)
			} else {
				c.onCreate(upgrade.Pod{Index: a.Index, Name: a.Pod, Version: a.Version, UID: a.UID}, a.Before, a.Seq)
			}
		case ActionDelete:
			if p, ok := findUID(a.Before, a.UID); ok {
				c.onDelete(p, a.Before, a.After, a.Seq, true)
			}
		}
	}
	c.observe(a.After, a.Seq, "after "+brief(a))
}

// CheckStep judges everything d did since the previous CheckStep (its
// action log, see Checker; the first call judges every action recorded so
// far) and the truth now, with st the status the engine returned (nil
// when there is none). It returns the violations found by this call, joined
// (each a Violation), or nil.
func (c *Checker) CheckStep(st *status.Status, d *Driver) error {
	c.learn(st)
	c.driverFailover = d.CanFailover()
	c.seen = true
	for _, a := range d.actionsSince(c.lastSeq) {
		c.action(a)
		c.lastSeq = a.Seq
	}
	truth := d.Truth()
	c.observe(truth, 0, "at the check")
	c.prev = truth
	return joinViolations(c.fresh)
}

// Check judges pods, the group as listed now by any driver, against the
// pods of the previous Check (see Checker for what it can and cannot
// tell), with st the status the engine returned. It returns the violations
// found by this call, joined (each a Violation), or nil.
func (c *Checker) Check(st *status.Status, pods []upgrade.Pod) error {
	c.learn(st)
	pods = slices.Clone(pods)
	if !c.seen {
		c.seen = true
		for _, p := range pods {
			c.initial[p.UID] = true
		}
		c.observe(pods, 0, "at the first check")
		c.prev = pods
		return joinViolations(c.fresh)
	}
	prev := c.prev
	// Pods of the previous check that still run now: what a create saw.
	var still []upgrade.Pod
	for _, p := range prev {
		if q, ok := findUID(pods, p.UID); ok && !q.Terminating && !p.Terminating {
			still = append(still, p)
		}
	}
	var created []upgrade.Pod
	for _, p := range pods {
		if _, ok := findUID(prev, p.UID); !ok && !c.initial[p.UID] {
			created = append(created, p)
		}
	}
	slices.SortStableFunc(created, func(a, b upgrade.Pod) int { return a.Created.Compare(b.Created) })
	before := still
	for _, p := range created {
		c.onCreate(p, slices.Clone(before), 0)
		if !p.Terminating {
			before = append(before, p)
		}
	}
	for _, p := range prev {
		if p.Terminating {
			continue
		}
		q, ok := findUID(pods, p.UID)
		switch {
		case !ok:
			c.onDelete(p, prev, pods, 0, false)
		case q.Terminating:
			target := p
			target.Primary = q.Primary
			c.onDelete(target, prev, pods, 0, true)
		}
	}
	c.observe(pods, 0, "at the check")
	c.prev = pods
	return joinViolations(c.fresh)
}

// phaseMatches tells the upgrade phases that go with each group phase.
func phaseMatches(g status.Phase, u status.UpgradePhase) bool {
	switch g {
	case status.PhaseRunning:
		return u == status.UpgradeCompleted || u == status.UpgradeRolledBack
	case status.PhaseUpgrading:
		return u == status.UpgradeInProgress || u == status.UpgradePaused
	case status.PhaseRollingBack:
		return u == status.UpgradeRollingBack
	case status.PhaseFailed:
		return u == status.UpgradeFailed
	}
	return false
}

// CheckStatus judges the status the engine returned, with pods the group as
// listed now (the truth: Driver.Truth), and returns the violations found
// by this call, joined (each a Violation), or nil. They are also kept with
// the others (Violations, Err).
//
// S6, status consistency: with no UpgradeStatus, Phase is "" or Running.
// With one: TotalReplicas equals replicas; 0 <= UpdatedReplicas <=
// TotalReplicas; CurrentIndex, when set, and every failure's index lie in
// 0..replicas-1; Phase and UpgradeStatus.Phase agree (Running with
// Completed or RolledBack, Upgrading with InProgress or Paused,
// RollingBack with RollingBack, Failed with Failed); CurrentVersion is
// FromVersion (or empty) until the attempt completes; Completed has
// CompletedAt set, CurrentVersion = ToVersion, RollbackCount 0, and no
// running pod at another version; RolledBack has CurrentVersion =
// FromVersion, every failure recovered, and no running pod at another
// version.
//
// S7, rollback count: RollbackCount stays within 0..limit (the policy's,
// default 3); between two calls it rises by at most 1, only while an
// automatic (not Manual) rollback runs or has ended, and only when
// rollback.enabled and onFailure are set; it falls only to 0, by a
// Completed upgrade.
func (c *Checker) CheckStatus(st *status.Status, pods []upgrade.Pod) error {
	c.fresh = nil
	if st == nil {
		c.report(RuleStatus, -1, 0, "status is nil")
		return joinViolations(c.fresh)
	}
	c.checkStatusConsistency(st, pods)
	c.checkRollbackCount(st)
	return joinViolations(c.fresh)
}

func (c *Checker) checkStatusConsistency(st *status.Status, pods []upgrade.Pod) {
	us := st.UpgradeStatus
	if us == nil {
		if st.Phase != "" && st.Phase != status.PhaseRunning {
			c.report(RuleStatus, -1, 0, "phase is %s but there is no upgradeStatus", st.Phase)
		}
		return
	}
	if us.TotalReplicas != c.replicas {
		c.report(RuleStatus, -1, 0, "upgradeStatus.totalReplicas is %d, the group has %d replicas", us.TotalReplicas, c.replicas)
	}
	if us.UpdatedReplicas < 0 || us.UpdatedReplicas > us.TotalReplicas {
		c.report(RuleStatus, -1, 0, "upgradeStatus.updatedReplicas %d is outside 0..totalReplicas %d", us.UpdatedReplicas, us.TotalReplicas)
	}
	if ci := us.CurrentIndex; ci != nil && (*ci < 0 || *ci >= c.replicas) {
		c.report(RuleStatus, *ci, 0, "upgradeStatus.currentIndex %d is outside 0..%d", *ci, c.replicas-1)
	}
	for _, f := range us.Failures {
		if f.Index < 0 || f.Index >= c.replicas {
			c.report(RuleStatus, f.Index, 0, "upgradeStatus.failures names slot %d, outside 0..%d", f.Index, c.replicas-1)
		}
	}
	if !phaseMatches(st.Phase, us.Phase) {
		c.report(RuleStatus, -1, 0, "phase %q does not go with upgradeStatus.phase %q", st.Phase, us.Phase)
	}
	stray := func(want string) []string {
		var out []string
		for _, p := range pods {
			if !p.Terminating && p.Version != want {
				out = append(out, fmt.Sprintf("%s at %s", p.Name, p.Version))
			}
		}
		return out
	}
	switch us.Phase {
	case status.UpgradeCompleted:
		if us.CompletedAt == nil {
			c.report(RuleStatus, -1, 0, "upgrade Completed without completedAt")
		}
		if st.CurrentVersion != us.ToVersion {
			c.report(RuleStatus, -1, 0, "upgrade Completed but currentVersion is %q, not toVersion %q", st.CurrentVersion, us.ToVersion)
		}
		if st.RollbackCount != 0 {
			c.report(RuleStatus, -1, 0, "upgrade Completed but rollbackCount is %d, not 0", st.RollbackCount)
		}
		if s := stray(us.ToVersion); len(s) > 0 {
			c.report(RuleStatus, -1, 0, "upgrade Completed but pods run another version than %s: %s", us.ToVersion, strings.Join(s, ", "))
		}
	case status.UpgradeRolledBack:
		if st.CurrentVersion != us.FromVersion {
			c.report(RuleStatus, -1, 0, "upgrade RolledBack but currentVersion is %q, not fromVersion %q", st.CurrentVersion, us.FromVersion)
		}
		for _, f := range us.Failures {
			if !f.Recovered {
				c.report(RuleStatus, f.Index, 0, "upgrade RolledBack but the failure of slot %d is not recovered", f.Index)
			}
		}
		if s := stray(us.FromVersion); len(s) > 0 {
			c.report(RuleStatus, -1, 0, "upgrade RolledBack but pods run another version than %s: %s", us.FromVersion, strings.Join(s, ", "))
		}
	default:
		if st.CurrentVersion != "" && st.CurrentVersion != us.FromVersion {
			c.report(RuleStatus, -1, 0, "upgrade %s but currentVersion is %q, not fromVersion %q", us.Phase, st.CurrentVersion, us.FromVersion)
		}
	}
}

func (c *Checker) checkRollbackCount(st *status.Status) {
	n := st.RollbackCount
	if n < 0 || n > c.rollbackLimit {
		c.report(RuleRollbackCount, -1, 0, "rollbackCount %d is outside 0..limit %d", n, c.rollbackLimit)
	}
	prev, seen := c.rollbackCount, c.statusSeen
	c.rollbackCount, c.statusSeen = n, true
	if !seen || n == prev {
		return
	}
	us := st.UpgradeStatus
	switch {
	case n > prev+1:
		c.report(RuleRollbackCount, -1, 0, "rollbackCount rose from %d to %d in one step", prev, n)
	case n == prev+1:
		rollingBack := us != nil && (us.Phase == status.UpgradeRollingBack || us.Phase == status.UpgradeRolledBack ||
			(us.Phase == status.UpgradeFailed && us.RollbackReason != ""))
		if !rollingBack {
			c.report(RuleRollbackCount, -1, 0, "rollbackCount rose to %d without an automatic rollback (upgrade phase %s)", n, phaseOf(us))
		} else if us.Manual {
			c.report(RuleRollbackCount, -1, 0, "rollbackCount rose to %d for a manual rollback", n)
		}
		if !c.rollbackAutoAllowed {
			c.report(RuleRollbackCount, -1, 0, "rollbackCount rose to %d though rollback.enabled and onFailure are not both set", n)
		}
	case n < prev:
		if n != 0 || us == nil || us.Phase != status.UpgradeCompleted {
			c.report(RuleRollbackCount, -1, 0, "rollbackCount fell from %d to %d without a completed upgrade (upgrade phase %s)", prev, n, phaseOf(us))
		}
	}
}

func phaseOf(us *status.UpgradeStatus) string {
	if us == nil {
		return "none"
	}
	return string(us.Phase)
}
