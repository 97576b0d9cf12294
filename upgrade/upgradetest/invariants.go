package upgradetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rollgate/rollgate/rollback"
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
	// RuleVersions (S8): pods are created only at the from or to version,
	// and none is left at another version once the attempt settles.
	RuleVersions = "S8"
	// RuleSettles (L1): with faults stopped and the desired state fixed, the
	// group settles (Completed, Paused, RolledBack or Failed) within a
	// bounded number of Steps and stays there. See Settle and Stable.
	RuleSettles = "L1"
	// RuleRolledBack (L2): a rolled-back group runs only the old version,
	// one pod per slot, with no surge pod left. See CheckRolledBack.
	RuleRolledBack = "L2"
	// RuleBrokenFirst (L3): a broken old pod never blocks the upgrade that
	// would replace it: a Step that leaves the attempt moving starts
	// replacing every slot whose pods are all old and not ready.
	RuleBrokenFirst = "L3"
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
//     CheckStep also asks that the engine's Step listed the slot with a
//     ready pod and no other ready pod the slot would keep (a pod that
//     became ready, or stopped being ready, after the list was made is not
//     held against it).
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
//     not ready is always allowed) for each pod the slot had when the
//     transition opened (a slot may carry an extra pod, left by a target
//     the caller gave up), and no second pod is created while the one
//     created earlier in it still runs (not terminating).
//   - S5: an effective Delete never hits a pod that still holds the
//     primary role while the driver can fail over (see FailoverCapable)
//     and another ready pod exists to take the role. CheckStep judges the
//     role and the other pods by what the engine's Step listed (its last
//     Pods call before the Delete): a pod it created in the same Step, or
//     a role moved after it listed, is not held against it.
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
	rollbackLimit       int32
	rollbackAutoAllowed bool

	// base is the status the next Step starts from (Resume, or the last
	// status given to CheckStatus); nil until known.
	base *status.Status
	// step holds what CheckStep saw of the Step since the last
	// CheckStatus; nil when CheckStep was not called in between.
	step *stepInfo
	// view is what the last Pods call before the action being judged
	// returned (CheckStep), nil with Check.
	view []upgrade.Pod
	// brokenFor counts the Steps in a row that left slot i broken and
	// untouched (L3).
	brokenFor map[int32]int
}

// stepInfo is what one Step did, read from the Driver's action log.
type stepInfo struct {
	// view is what the Step's Pods call returned (nil: no successful Pods
	// call; the Step then changed nothing).
	view    []upgrade.Pod
	hasView bool
	// touched lists the slots the Step called Create, Delete or Failover
	// for (effective or not); writes lists its effective writes.
	touched map[int32]bool
	writes  []string
	// failedOver: a Failover call of the Step returned no error (the
	// engine then defers the Step's deletes to the next).
	failedOver bool
}

type slotTrack struct {
	engineDown bool
	version    string
	tr         *transition
}

type transition struct {
	// pods is how many pods, not terminating, the slot had when the
	// transition opened: each may go once.
	pods         int
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

// SetPartition tells the Checker the partition changed (S3). Slots it
// releases end their transition (S4): one there was the repair of a held
// slot at its version, and the upgrade of the slot is another.
func (c *Checker) SetPartition(p int32) {
	for i := max(p, 0); i < c.partition; i++ {
		if s := c.slots[i]; s != nil {
			s.tr = nil
		}
	}
	c.partition = p
}

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

func (c *Checker) open(i int32, before []upgrade.Pod) *transition {
	s := c.slot(i)
	if s.tr == nil {
		s.tr = &transition{}
		for _, p := range before {
			if p.Index == i && !p.Terminating {
				s.tr.pods++
			}
		}
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
	tr := c.open(i, before)
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
	// Whether the slot was up as the engine could know it: the pods its
	// Step listed, less those its status says it stopped (a pod that
	// became ready after the list was made is not held against it).
	wasUp := hasReady(before, i)
	if c.view != nil {
		seen := withRetired(c.view, c.baseRetired())
		// ...and that it listed no other ready pod the slot would keep.
		rest := slices.DeleteFunc(slices.Clone(seen), func(p upgrade.Pod) bool { return p.UID == target.UID })
		wasUp = wasUp && hasReady(seen, i) && !hasReady(rest, i)
	}
	if wasUp && !hasReady(after, i) && i >= 0 && i < c.replicas {
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
	tr := c.open(i, before)
	if wasReady {
		tr.readyDeletes = append(tr.readyDeletes, target.Name)
		if len(tr.readyDeletes) > max(1, tr.pods) {
			c.report(RuleOnce, i, seq, "slot %d lost a ready pod twice in one transition: %s",
				i, strings.Join(tr.readyDeletes, " then "))
		}
	}
	// The role and the other ready pods as the engine could know them:
	// the pods its Step listed (a pod created in the same Step, or a role
	// moved since, is not in them), else the group just before.
	seen := before
	if c.view != nil {
		seen = withRetired(c.view, c.baseRetired())
		if p, ok := findUID(c.view, target.UID); ok {
			target.Primary = p.Primary
		} else {
			target.Primary = false
		}
	}
	if sure && target.Primary && c.canFailover() {
		other := slices.ContainsFunc(seen, func(p upgrade.Pod) bool {
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
	info := &stepInfo{touched: map[int32]bool{}}
	for _, a := range d.actionsSince(c.lastSeq) {
		c.action(a)
		c.lastSeq = a.Seq
		switch a.Kind {
		case ActionPods:
			if a.Err == nil && !a.Handled {
				info.view, info.hasView = slices.Clone(a.Returned), true
				c.view = info.view
			}
		case ActionCreate, ActionDelete, ActionFailover:
			info.touched[a.Index] = true
			if a.Effective {
				info.writes = append(info.writes, a.String())
			}
			if a.Kind == ActionFailover && a.Err == nil {
				info.failedOver = true
			}
		}
	}
	c.step = info
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
	c.step, c.view = nil, nil
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

// Resume tells the Checker that the next Step starts from st instead of
// the status last given to CheckStatus: the caller restored a status
// persisted earlier (a crash lost the later ones), read a stale one, or
// changed it between Steps (Upgrader.Rollback, Upgrader.Retry). The
// transition rules of CheckStatus (S6, S7, L3) compare the status a Step
// returns with the one it started from. Calling Resume before every Step
// with the status given to it is always right.
func (c *Checker) Resume(st *status.Status) {
	if st == nil {
		c.base = nil
		return
	}
	c.base = st.DeepCopy()
}

// CheckStatus judges the status the engine returned, with pods the group as
// listed now (the truth: Driver.Truth), and returns the violations found
// by this call, joined (each a Violation), or nil. They are also kept with
// the others (Violations, Err). Call it after CheckStep (or Check) for the
// same Step: the rules about pods judge the pods the Step observed (what
// its Pods call returned, read from the Driver's action log by CheckStep;
// without CheckStep, pods stand in for them), since an engine can only be
// consistent with what it saw. A stale view may so let a Step declare an
// attempt RolledBack while a pod it cannot see runs another version; the
// next Steps must find and fix it, which CheckRolledBack and the S8 rule
// judge once the view catches up.
//
// S6, status consistency: with no UpgradeStatus, Phase is "" or Running.
// With one: TotalReplicas equals replicas; 0 <= UpdatedReplicas <=
// TotalReplicas; CurrentIndex, when set, and every failure's index lie in
// 0..replicas-1 (-1 for a failure of the whole group, such as a precheck
// refusal); Phase and UpgradeStatus.Phase agree (Running with Completed
// or RolledBack, Upgrading with InProgress or Paused, RollingBack with
// RollingBack, Failed with Failed, and Running with an attempt Failed
// because a compatibility precheck refused to start it, or whose target
// was given up for the version the group runs); CurrentVersion is FromVersion (or
// empty) until the attempt completes; Completed has CompletedAt set,
// CurrentVersion = ToVersion, RollbackCount 0, and no running pod at
// another version; RolledBack has CurrentVersion = FromVersion, every
// failure recovered, and no running pod at another version.
// Against the observed pods, while the attempt moves (InProgress, Paused,
// RollingBack): CurrentIndex names a slot whose entry (UpgradeStatus.Pods)
// is neither Done nor Failed, the first in the order, and is nil when no
// entry is; UpdatedReplicas is at most the slots with a ready pod at the
// attempt's target version and at least those whose Done entry names such
// a pod (while rolling back, exactly the slots with a ready pod at
// FromVersion). Transitions, judged against the status the Step started
// from (see Resume): a Step that starts, retargets, pauses, completes,
// fails or rolls back an attempt writes no pod (resuming from Paused may);
// Completed and RolledBack are reached only when every slot shows exactly
// one pod, running the version (ToVersion, FromVersion), and no pod is
// terminating; Paused by the partition only when every slot at or above
// it shows exactly one pod, at ToVersion, and no pod is terminating;
// Failed and automatic RollingBack only with a new failure recorded;
// a manual RollingBack with its reason.
//
// S7, rollback count (design section 7.3): RollbackCount stays within
// 0..limit (the policy's, default 3); from one Step to the next it rises
// by at most 1, only when an automatic (not Manual) rollback starts
// (rollback.enabled and onFailure set, the count below the limit); it
// falls only to 0, by a Completed upgrade; a manual rollback leaves it
// alone; and a slot failure with the policy allowing a rollback (enabled,
// onFailure, count below the limit) starts one instead of failing.
//
// S8, settled: when the attempt becomes Paused, Completed or RolledBack,
// no running pod runs a version other than FromVersion and ToVersion. (A
// Failed attempt leaves pods as they are, including pods of a target
// abandoned by a change of the desired version.) With CheckStep the
// settled rules (pods on another version) are judged at the Step that
// settled the attempt, on the pods it observed; CheckSettled judges the
// group once faults stop.
//
// L3, broken pods first: Steps that leave the attempt moving in the
// same phase (InProgress, or RollingBack) and not paused by the spec start
// on every slot they may move (at or above the partition when upgrading)
// whose observed pods are all not ready, not terminating and at another
// version than the attempt's target: the slot has an entry that is not
// Done, or the Step wrote to it, at the latest at the second Step in a row
// that sees it so, not counting Steps that failed a pod over (the engine
// defers their deletes to the next). Needs CheckStep.
func (c *Checker) CheckStatus(st *status.Status, pods []upgrade.Pod) error {
	c.fresh = nil
	step := c.step
	c.step = nil
	if st == nil {
		c.report(RuleStatus, -1, 0, "status is nil")
		return joinViolations(c.fresh)
	}
	view := pods
	if step != nil {
		view = step.view
	}
	if us := st.UpgradeStatus; us != nil {
		view = withRetired(view, us.Retired)
	}
	// With an action log, pods left on another version are judged at
	// the Step that settled the attempt, on what it saw (checkTransition):
	// a later Step may see an older list, and a later change is for
	// CheckSettled once faults stop.
	if step == nil {
		c.checkStatusConsistency(st, pods)
	} else {
		c.checkStatusConsistency(st, nil)
	}
	if step == nil || step.hasView {
		c.checkProgress(st, view)
	}
	if c.base != nil {
		c.checkTransition(c.base, st, view, step)
	}
	c.checkRollbackCount(st)
	if step == nil {
		c.checkSettledVersions(st, pods)
	}
	c.base = st.DeepCopy()
	return joinViolations(c.fresh)
}

// baseRetired returns the pods the engine had stopped when its Step
// started (the status given to Resume, or the last one checked).
func (c *Checker) baseRetired() []string {
	if c.base == nil || c.base.UpgradeStatus == nil {
		return nil
	}
	return c.base.UpgradeStatus.Retired
}

// withRetired returns pods with those whose UID is in retired (pods the
// engine stopped, see status.UpgradeStatus.Retired) shown terminating and
// not ready, as the engine sees them whatever a lagging list says.
func withRetired(pods []upgrade.Pod, retired []string) []upgrade.Pod {
	if len(retired) == 0 {
		return pods
	}
	out := slices.Clone(pods)
	for k := range out {
		if slices.Contains(retired, out[k].UID) {
			out[k].Terminating, out[k].Ready = true, false
		}
	}
	return out
}

// target is the version the attempt moves slots to now.
func target(us *status.UpgradeStatus) string {
	if us.Phase == status.UpgradeRollingBack {
		return us.FromVersion
	}
	return us.ToVersion
}

func moving(p status.UpgradePhase) bool {
	return p == status.UpgradeInProgress || p == status.UpgradePaused || p == status.UpgradeRollingBack
}

func inFlight(e status.PodProgress) bool {
	return e.Stage != status.StageDone && e.Stage != status.StageFailed
}

// checkProgress judges CurrentIndex and UpdatedReplicas against the
// entries and the observed pods (S6).
func (c *Checker) checkProgress(st *status.Status, view []upgrade.Pod) {
	us := st.UpgradeStatus
	if us == nil {
		return
	}
	if !moving(us.Phase) {
		if us.CurrentIndex != nil {
			c.report(RuleStatus, *us.CurrentIndex, 0, "upgrade %s but currentIndex is %d, not nil", us.Phase, *us.CurrentIndex)
		}
		return
	}
	var first *status.PodProgress
	for k := range us.Pods {
		e := &us.Pods[k]
		if !inFlight(*e) {
			continue
		}
		if first == nil || orderLess(c.spec.RollingUpdate.Order, e.Index, first.Index) {
			first = e
		}
	}
	ciOK := us.CurrentIndex == nil || *us.CurrentIndex >= 0 && *us.CurrentIndex < c.replicas
	switch {
	case !ciOK: // reported already
	case us.CurrentIndex == nil && first != nil:
		c.report(RuleStatus, first.Index, 0, "currentIndex is nil while slot %d is in flight (stage %s)", first.Index, first.Stage)
	case us.CurrentIndex != nil && first == nil:
		c.report(RuleStatus, *us.CurrentIndex, 0, "currentIndex is %d but no slot is in flight", *us.CurrentIndex)
	case us.CurrentIndex != nil && *us.CurrentIndex != first.Index:
		c.report(RuleStatus, *us.CurrentIndex, 0, "currentIndex is %d but the first slot in flight is %d (stage %s)", *us.CurrentIndex, first.Index, first.Stage)
	}
	want := target(us)
	doneUID := map[string]bool{}
	for _, e := range us.Pods {
		if e.Stage == status.StageDone && e.NewUID != "" {
			doneUID[e.NewUID] = true
		}
	}
	upper, lower := map[int32]bool{}, map[int32]bool{}
	for _, p := range view {
		if p.Terminating || !p.Ready || p.Version != want {
			continue
		}
		upper[p.Index] = true
		if us.Phase == status.UpgradeRollingBack || doneUID[p.UID] {
			lower[p.Index] = true
		}
	}
	if n := us.UpdatedReplicas; n <= us.TotalReplicas && n >= 0 && (n > int32(len(upper)) || n < int32(len(lower))) {
		c.report(RuleStatus, -1, 0, "updatedReplicas is %d; the observed pods have %d slot(s) ready at %s, %d of them recorded Done",
			n, len(upper), want, len(lower))
	}
}

func orderLess(o upgrade.Order, a, b int32) bool {
	if o == upgrade.ReverseOrdinal {
		return a > b
	}
	return a < b
}

// settledAt reports what keeps slots from..replicas-1 from each showing
// exactly one running pod at version v with nothing terminating; "" when
// nothing does.
func (c *Checker) settledAt(view []upgrade.Pod, from int32, v string) string {
	var bad []string
	for _, p := range view {
		if p.Terminating {
			bad = append(bad, p.Name+" is terminating")
		}
	}
	for i := from; i < c.replicas; i++ {
		ps := slotPods(view, i)
		switch {
		case len(ps) == 0:
			bad = append(bad, fmt.Sprintf("slot %d has no pod", i))
		case len(ps) > 1:
			bad = append(bad, fmt.Sprintf("slot %d has %d pods (%s)", i, len(ps), names(ps)))
		case ps[0].Version != v:
			bad = append(bad, fmt.Sprintf("slot %d runs %s at %s", i, ps[0].Name, ps[0].Version))
		}
	}
	return strings.Join(bad, "; ")
}

func attemptKey(us *status.UpgradeStatus) string {
	if us == nil {
		return ""
	}
	started := ""
	if us.StartedAt != nil {
		started = us.StartedAt.UTC().String()
	}
	return us.FromVersion + "@" + started
}

// failuresGrew reports whether prev is a prefix of cur, recovery aside:
// what one attempt's failure list does from Step to Step. An empty cur
// tells nothing (and is judged by the other rules).
func failuresGrew(prev, cur []status.Failure) bool {
	if len(cur) == 0 {
		return true
	}
	if len(prev) > len(cur) {
		return false
	}
	for k := range prev {
		a, b := prev[k], cur[k]
		if a.Index != b.Index || a.Error != b.Error || a.Reason != b.Reason || !a.Timestamp.Equal(&b.Timestamp) {
			return false
		}
	}
	return true
}

// checkTransition judges the move from prev (the status the Step started
// from) to st (S6, S7, L3).
func (c *Checker) checkTransition(prev, st *status.Status, view []upgrade.Pod, step *stepInfo) {
	pus, us := prev.UpgradeStatus, st.UpgradeStatus
	if us == nil {
		return
	}
	// The same attempt: same start, and its failures only grow (a new
	// attempt started in the same instant from the same version, as a
	// refused one after a rollback, starts a list of its own).
	same := pus != nil && attemptKey(pus) == attemptKey(us) && failuresGrew(pus.Failures, us.Failures)
	var prevPhase status.UpgradePhase
	prevFailures := 0
	if same {
		prevPhase = pus.Phase
		prevFailures = len(pus.Failures)
	}
	changed := !same || prevPhase != us.Phase || pus.ToVersion != us.ToVersion
	if !changed {
		c.checkBrokenFirst(st, view, step)
		return
	}
	// A decision is persisted before anything acts on it.
	resumed := same && prevPhase == status.UpgradePaused && us.Phase == status.UpgradeInProgress && pus.ToVersion == us.ToVersion
	if step != nil && len(step.writes) > 0 && !resumed {
		c.report(RuleStatus, -1, 0, "the Step that moved the attempt from %q to %s (to %s) also wrote pods: %s",
			prevPhase, us.Phase, us.ToVersion, strings.Join(step.writes, "; "))
	}
	seenView := step == nil || step.hasView
	// A failure behind a Failed or automatic RollingBack phase: recorded
	// by this Step, or by an earlier one on a slot still marked Failed.
	newFailure := len(us.Failures) > prevFailures
	if same {
		for _, e := range pus.Pods {
			newFailure = newFailure || e.Stage == status.StageFailed
		}
	}
	if seenView {
		c.checkSettledVersions(st, view)
	}
	switch us.Phase {
	case status.UpgradeCompleted:
		if seenView {
			if why := c.settledAt(view, 0, us.ToVersion); why != "" {
				c.report(RuleStatus, -1, 0, "upgrade Completed though the observed pods are not all at %s: %s", us.ToVersion, why)
			}
		}
	case status.UpgradeRolledBack:
		if seenView {
			if why := c.settledAt(view, 0, us.FromVersion); why != "" {
				c.report(RuleStatus, -1, 0, "upgrade RolledBack though the observed pods are not all at %s: %s", us.FromVersion, why)
			}
		}
	case status.UpgradePaused:
		if seenView && !c.spec.RollingUpdate.Paused {
			if why := c.settledAt(view, min(max(us.Partition, 0), c.replicas), us.ToVersion); why != "" {
				c.report(RuleStatus, -1, 0, "upgrade Paused at partition %d though the observed pods are not all at %s: %s", us.Partition, us.ToVersion, why)
			}
		}
	case status.UpgradeFailed:
		if !newFailure {
			c.report(RuleStatus, -1, 0, "upgrade moved from %q to Failed without recording a failure", prevPhase)
		}
	case status.UpgradeRollingBack:
		if us.Manual {
			if us.RollbackReason == "" {
				c.report(RuleStatus, -1, 0, "manual rollback started without a reason")
			}
		} else if !newFailure {
			c.report(RuleStatus, -1, 0, "automatic rollback started from %q without a new failure recorded", prevPhase)
		}
	}
	// S7: the transitions that move the count.
	limit := c.spec.Rollback.LimitOrDefault()
	switch {
	case us.Phase == status.UpgradeRollingBack && !us.Manual && prevPhase != status.UpgradeRollingBack:
		if st.RollbackCount != prev.RollbackCount+1 {
			c.report(RuleRollbackCount, -1, 0, "automatic rollback started with rollbackCount %d -> %d; it adds exactly 1", prev.RollbackCount, st.RollbackCount)
		}
		if c.spec.Rollback.Decide(prev.RollbackCount) != rollback.Start {
			c.report(RuleRollbackCount, -1, 0, "automatic rollback started though the policy forbids it (%s)", c.spec.Rollback.Explain(prev.RollbackCount))
		}
	case us.Phase == status.UpgradeRollingBack && us.Manual:
		if st.RollbackCount != prev.RollbackCount {
			c.report(RuleRollbackCount, -1, 0, "manual rollback moved rollbackCount %d -> %d; it does not count", prev.RollbackCount, st.RollbackCount)
		}
	case us.Phase == status.UpgradeFailed && same && (prevPhase == status.UpgradeInProgress || prevPhase == status.UpgradePaused):
		f := us.Failures[len(us.Failures)-1]
		if f.Index >= 0 && c.spec.Rollback.Decide(prev.RollbackCount) == rollback.Start {
			c.report(RuleRollbackCount, f.Index, 0, "slot %d failed and the upgrade stopped Failed, though the policy allows an automatic rollback (rollbackCount %d, limit %d)",
				f.Index, prev.RollbackCount, limit)
		}
	}
}

// checkBrokenFirst judges L3 after a Step that left the attempt moving.
func (c *Checker) checkBrokenFirst(st *status.Status, view []upgrade.Pod, step *stepInfo) {
	us := st.UpgradeStatus
	if step == nil || !step.hasView {
		return
	}
	rollingBack := us.Phase == status.UpgradeRollingBack
	if us.Phase != status.UpgradeInProgress && !rollingBack {
		return
	}
	if !rollingBack && c.spec.RollingUpdate.Paused {
		return
	}
	want := target(us)
	from := int32(0)
	if !rollingBack {
		from = max(us.Partition, 0)
	}
	entry := map[int32]bool{}
	for _, e := range us.Pods {
		if e.Stage != status.StageDone {
			entry[e.Index] = true
		}
	}
	if c.brokenFor == nil {
		c.brokenFor = map[int32]int{}
	}
	for i := range c.replicas {
		ps := slotPods(view, i)
		broken := len(ps) > 0 && i >= from
		for _, p := range ps {
			if p.Terminating || p.Ready || p.Version == want {
				broken = false
			}
		}
		if !broken || entry[i] || step.touched[i] {
			c.brokenFor[i] = 0
			continue
		}
		if step.failedOver {
			// A Step that failed a pod over defers its deletes to the
			// next: it does not count (Steps that keep failing over, as
			// after lost status writes, keep deferring).
			continue
		}
		if c.brokenFor[i]++; c.brokenFor[i] == 2 {
			c.report(RuleBrokenFirst, i, 0, "slot %d shows only old pods that are not ready (%s) and two Steps in a row did not start replacing it", i, names(ps))
		}
	}
}

// checkSettledVersions judges S8 once the attempt settled.
func (c *Checker) checkSettledVersions(st *status.Status, pods []upgrade.Pod) {
	us := st.UpgradeStatus
	if us == nil {
		return
	}
	switch us.Phase {
	case status.UpgradePaused, status.UpgradeCompleted, status.UpgradeRolledBack:
	default:
		return
	}
	var bad []string
	for _, p := range pods {
		if !p.Terminating && p.Version != us.FromVersion && p.Version != us.ToVersion {
			bad = append(bad, fmt.Sprintf("%s at %s", p.Name, p.Version))
		}
	}
	if len(bad) > 0 {
		c.report(RuleVersions, -1, 0, "upgrade %s -> %s is %s but pods run neither version: %s", us.FromVersion, us.ToVersion, us.Phase, strings.Join(bad, ", "))
	}
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
		if f.Index < -1 || f.Index >= c.replicas {
			c.report(RuleStatus, f.Index, 0, "upgradeStatus.failures names slot %d, outside 0..%d", f.Index, c.replicas-1)
		}
	}
	// A start refused by a compatibility precheck touched no pod: the
	// group stays Running.
	refused := us.Phase == status.UpgradeFailed && st.Phase == status.PhaseRunning &&
		len(us.Failures) > 0 && us.Failures[len(us.Failures)-1].Index == -1 && us.Failures[len(us.Failures)-1].Reason == "PrecheckFailed"
	// A failed attempt whose target the caller gave up, the desired
	// version back at the one the group runs with no pod to bring back:
	// the group is Running again.
	abandoned := us.Phase == status.UpgradeFailed && st.Phase == status.PhaseRunning &&
		st.TargetVersion == st.CurrentVersion && us.ToVersion != st.TargetVersion
	if !phaseMatches(st.Phase, us.Phase) && !refused && !abandoned {
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
	if c.base == nil {
		return
	}
	prev := c.base.RollbackCount
	if n == prev {
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
