package upgrade

import (
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rollgate/rollgate/rollback"
	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/verify"
)

// defaultPoll is how long a Step asks to wait for an outside change (a pod
// becoming ready or going away) when no deadline is nearer. Controllers
// that watch pods are woken sooner by their events.
const defaultPoll = time.Second

// maxRetryDelay caps the backoff of a driver call that failed.
const maxRetryDelay = 30 * time.Second

// decider computes one Step's decision. It mutates the working status it is
// given and lists the actions that need I/O; it performs none itself.
type decider struct {
	u     *Upgrader
	now   time.Time
	mnow  metav1.Time
	st    *status.Status
	us    *status.UpgradeStatus
	want  Desired
	pods  []Pod
	obs   observation
	surge int32
	unav  int32
	part  int32

	rollingBack bool
	canFailover bool

	actions    []Action
	planning   bool // Plan: keep the Waits in actions
	waits      int  // Waits decided and not kept (Step)
	events     []Event
	requeue    time.Duration
	transition bool // the attempt changed phase: no pod writes this Step
	refused    bool // a precheck refused the upgrade
	blocked    string
	// readyCutoff: a pod created before it is past the timeout for
	// turning Ready. oldestWaiting is the oldest pod steady waits for
	// (waitReady: there is one).
	readyCutoff   time.Time
	oldestWaiting time.Time
	waitReady     bool
	// cleanAt and cleanLen identify the entries observe found clean: while
	// us.Pods is still that slice, finish has nothing to compact or sort
	// (a write copies it first, an appended entry changes its length).
	cleanAt  *status.PodProgress
	cleanLen int
	// counted marks, forward, the slots whose verified new pod steady
	// counted as updated (updated of them); refreshProgress counts the
	// rest.
	counted []bool
	updated int32
	// scan is what scanIdle found (no attempt in flight); readySlots counts
	// the slots with a ready pod (-1: not counted).
	scan       idleScan
	readySlots int32
	// heldVersion and toVersion are the versions the slots want in this
	// direction: held slots (below the partition) and the others.
	heldVersion, toVersion string
	// unhealthy lists the slots a health-check pre-check finds not ready
	// (preHealth; healthKnown once listed).
	unhealthy   []int32
	healthKnown bool
	// cache serves room and mayStop (slotCache).
	cache budgetCache
	// unavailable and unlistedPods sum the budget the slots use (budgetUse).
	unavailable, unlistedPods int32

	// shared is the caller's status entries while us.Pods still is
	// them: entry and newEntry copy them before any write (own).
	shared []status.PodProgress
	// sharedRetired is the caller's us.Retired likewise (ownRetired).
	sharedRetired []string
}

func (d *decider) wake(at time.Time) {
	w := at.Sub(d.now)
	if w < 0 {
		w = 0
	}
	if d.requeue < 0 || w < d.requeue {
		d.requeue = w
	}
}

// wantOf returns the version slot s should run in this direction.
func (d *decider) wantOf(s *slotView) string {
	if s.held {
		return d.heldVersion
	}
	return d.toVersion
}

// poll asks to be called again within defaultPoll: the slot waits for an
// outside change (as wake(now + defaultPoll), without the time arithmetic).
func (d *decider) poll() {
	if d.requeue < 0 || defaultPoll < d.requeue {
		d.requeue = defaultPoll
	}
}

// act records an action. A Step keeps no Wait (it only counts them: a
// Wait does nothing, and at 10,000 pods a thousand slots wait at every
// Step); Plan lists them.
func (d *decider) act(a Action) {
	if a.Kind == ActionWait && !d.planning {
		d.waits++
		return
	}
	d.actions = append(d.actions, a)
}

// idleStep reports whether the Step decided nothing at all, not even a
// wait.
func (d *decider) idleStep() bool { return len(d.actions) == 0 && d.waits == 0 }

// dropWrites forgets the pod writes and checks decided so far: a Step that
// changes the attempt's phase writes no pod (the other slots' moves wait
// for the new phase to be persisted and decided again).
func (d *decider) dropWrites() {
	kept := d.actions[:0]
	for _, a := range d.actions {
		switch a.Kind {
		case ActionCreate, ActionDelete, ActionFailover, ActionPreCheck, ActionVerify:
			continue
		}
		kept = append(kept, a)
	}
	d.actions = kept
}

func (d *decider) event(reason string, index int32, warning bool, format string, args ...any) {
	d.events = append(d.events, Event{Reason: reason, Index: index, Warning: warning, Message: fmt.Sprintf(format, args...)})
}

// decide fills d.actions, d.events and mutates d.st. It returns an error
// only for bad input, before changing anything.
func (d *decider) decide() error {
	st, want := d.st, d.want
	if want.Version == "" {
		return fmt.Errorf("upgrade: want.Version: required")
	}
	if want.Replicas < 0 {
		return fmt.Errorf("upgrade: want.Replicas: %d must be greater than or equal to 0", want.Replicas)
	}
	if err := validatePods(&d.u.scratch.names, d.pods, want.Replicas); err != nil {
		return err
	}
	if us := st.UpgradeStatus; us != nil && len(us.Retired) > 0 {
		d.pods = markRetired(d.pods, us.Retired, &d.u.scratch.names)
	}
	if st.CurrentVersion == "" {
		v, ok, err := agreedVersion(d.pods)
		if err != nil {
			return err
		}
		if !ok {
			v = want.Version
		}
		st.CurrentVersion = v
	}
	if st.Phase == "" {
		st.Phase = status.PhaseRunning
	}
	d.surge, d.unav = d.u.spec.Budget(want.Replicas)
	d.part = d.u.spec.partitionValue(want.Replicas)
	_, d.canFailover = d.u.driver.(Failoverer)
	d.requeue = -1

	us := st.UpgradeStatus
	d.us = us
	if us == nil || !active(us.Phase) {
		d.idle()
		return nil
	}
	us.TotalReplicas = want.Replicas
	if us.Phase != status.UpgradeRollingBack && want.Version != us.ToVersion {
		if want.Version == us.FromVersion {
			d.startRollback(true, fmt.Sprintf("desired version returned to %s", us.FromVersion))
			return nil
		}
		d.transition = true
		d.act(Action{Kind: ActionRetarget, Index: -1, Version: want.Version, Reason: fmt.Sprintf("desired version changed from %s to %s", us.ToVersion, want.Version)})
		return nil
	}
	d.rollingBack = us.Phase == status.UpgradeRollingBack
	d.readyCutoff = d.now.Add(-d.u.spec.podTimeout())
	if d.rollingBack {
		d.heldVersion, d.toVersion = "", us.FromVersion
		d.obs = observe(d.u.slots, d.pods, want.Replicas, us, 0, "", us.FromVersion)
	} else {
		d.heldVersion, d.toVersion = us.FromVersion, us.ToVersion
		d.obs = observe(d.u.slots, d.pods, want.Replicas, us, d.part, us.FromVersion, us.ToVersion)
	}
	d.readySlots = d.obs.ready
	if d.obs.cleanEntries && len(us.Pods) > 0 {
		d.cleanAt, d.cleanLen = &us.Pods[0], len(us.Pods)
	}
	d.u.slots = d.obs.slots
	d.attempt()
	return nil
}

// markRetired shows the pods the attempt stopped as terminating and not
// ready, whatever the list says: a lagging list may still show them
// running, and the Upgrader must not count its own stops as undone. pods
// is copied before the first change. set holds pods' UIDs (validatePods).
func markRetired(pods []Pod, retired []string, set *podSet) []Pod {
	copied := false
	if set.describes(pods) {
		for _, k := range set.retiredPods(retired) { // UIDs are unique: the same pods as below
			if pods[k].Terminating {
				continue
			}
			if !copied {
				pods, copied = slices.Clone(pods), true
			}
			pods[k].Terminating, pods[k].Ready = true, false
		}
		return pods
	}
	for k := range pods {
		if pods[k].Terminating || !slices.Contains(retired, pods[k].UID) {
			continue
		}
		if !copied {
			pods, copied = slices.Clone(pods), true
		}
		pods[k].Terminating, pods[k].Ready = true, false
	}
	return pods
}

func active(p status.UpgradePhase) bool {
	return p == status.UpgradeInProgress || p == status.UpgradePaused || p == status.UpgradeRollingBack
}

// idle handles a group with no attempt in flight.
func (d *decider) idle() {
	st, us, want := d.st, d.us, d.want
	d.scanIdle(st.CurrentVersion)
	settled := us != nil && (us.Phase == status.UpgradeFailed || us.Phase == status.UpgradeRolledBack) && us.ToVersion == want.Version
	switch {
	case settled && us.Phase == status.UpgradeFailed:
		// A failed attempt waits for a person: a new version, Retry or
		// Rollback.
		return
	case us != nil && us.Phase == status.UpgradeCompleted && st.CurrentVersion == us.ToVersion && want.Version == us.ToVersion && d.podsOff(us.ToVersion):
		// Completed on a view that did not show every pod: a pod still
		// runs another version. The upgrade is not done: reopen it.
		st.Phase = status.PhaseUpgrading
		st.CurrentVersion = us.FromVersion
		us.Phase = status.UpgradeInProgress
		us.CompletedAt = nil
		d.transition = true
		d.act(Action{Kind: ActionWait, Index: -1, Version: us.ToVersion, Reason: "reopen the upgrade: pods still run another version"})
		d.event(ReasonUpgradeStarted, -1, true, "upgrade %s -> %s reopened: pods still run another version than %s", us.FromVersion, us.ToVersion, us.ToVersion)
		return
	case us != nil && us.Phase == status.UpgradeRolledBack && st.CurrentVersion == us.FromVersion && d.podsOff(us.FromVersion):
		// Rolled back on a view that did not show every pod (a write
		// whose status the caller lost, a lagging list): a pod still runs
		// another version. The rollback is not done: resume it.
		d.startRollback(true, fmt.Sprintf("pods still run another version than %s after the rollback", us.FromVersion))
		return
	case !settled && us != nil && us.Phase == status.UpgradeFailed && us.RollbackReason != "" && want.Version == st.CurrentVersion && d.podsOff(st.CurrentVersion):
		// The attempt's rollback failed already: starting another one
		// would flap between RollingBack and Failed. Pods are left as they
		// are for a person (Rollback, Retry).
		return
	case !settled && us != nil && us.Phase == status.UpgradeFailed && want.Version == st.CurrentVersion && d.podsOff(st.CurrentVersion):
		// The desired version went back while pods were left on another
		// one: bring them back.
		d.startRollback(true, fmt.Sprintf("desired version returned to %s", st.CurrentVersion))
		return
	case settled || want.Version == st.CurrentVersion:
		st.Phase = status.PhaseRunning
		st.TargetVersion = want.Version
		d.repairMissing(st.CurrentVersion)
		return
	}
	d.transition = true
	d.act(Action{Kind: ActionStartUpgrade, Index: -1, Version: want.Version, Reason: fmt.Sprintf("upgrade %s -> %s", st.CurrentVersion, want.Version)})
}

// scanIdle looks at every pod once for a Step with no attempt in flight:
// per slot, whether it has a pod (has), a running one (live) and a ready
// one (ready, counted in d.readySlots); and whether a running pod runs
// another version than v (podsOff(v) then answers from it).
func (d *decider) scanIdle(v string) {
	n := int(d.want.Replicas)
	has := slotFlags(&d.u.scratch.flag2, n)
	live := slotFlags(&d.u.scratch.flag, n)
	ready := slotFlags(&d.u.scratch.ready, n)
	off, readySlots := false, int32(0)
	for k := range d.pods {
		p := &d.pods[k]
		has[p.Index] = true
		if p.Terminating {
			continue
		}
		live[p.Index] = true
		if p.Ready && !ready[p.Index] {
			ready[p.Index] = true
			readySlots++
		}
		off = off || p.Version != v
	}
	d.scan = idleScan{done: true, version: v, off: off, has: has, live: live}
	d.readySlots = readySlots
}

// idleScan is what scanIdle found.
type idleScan struct {
	done      bool
	version   string
	off       bool
	has, live []bool
}

// podsOff reports whether some non-terminating pod runs another version.
func (d *decider) podsOff(v string) bool {
	if d.scan.done && v == d.scan.version {
		return d.scan.off
	}
	for _, p := range d.pods {
		if !p.Terminating && p.Version != v {
			return true
		}
	}
	return false
}

// repairMissing recreates, at version v, the pods of slots that have none.
// It is used when no attempt is in flight.
func (d *decider) repairMissing(v string) {
	n := d.want.Replicas
	if !d.scan.done {
		d.scanIdle(v)
	}
	has, live := d.scan.has, d.scan.live // live: a pod not terminating
	total := int32(len(d.pods))
	for i := int32(0); i < n; i++ {
		if !has[i] && total < n+d.surge {
			d.act(Action{Kind: ActionCreate, Index: i, Version: v, Reason: "recreate missing pod"})
			total++
		} else if !has[i] || !live[i] {
			// The slot's pod is on its way out, or there is no room yet:
			// not Done, the pod is recreated once it can be.
			d.act(Action{Kind: ActionWait, Index: i, Version: v, Reason: "waiting to recreate the slot's pod"})
			d.poll()
		}
	}
}

// startRollback turns the attempt around. manual rollbacks are not counted.
func (d *decider) startRollback(manual bool, reason string) {
	st := d.st
	us := d.us
	if us == nil {
		return
	}
	if !manual {
		st.RollbackCount++
	}
	st.Phase = status.PhaseRollingBack
	st.TargetVersion = us.FromVersion
	us.Phase = status.UpgradeRollingBack
	us.Manual = manual
	us.RollbackReason = reason
	us.CompletedAt = nil
	us.Pods = keepCreating(us.Pods)
	us.CurrentIndex = nil
	d.transition = true
	kind := "automatic"
	if manual {
		kind = "manual"
	}
	d.act(Action{Kind: ActionStartRollback, Index: -1, Version: us.FromVersion, Reason: reason})
	d.event(ReasonRollbackStarted, -1, true, "%s rollback %s -> %s: %s", kind, us.ToVersion, us.FromVersion, reason)
}

// entry returns slot i's status entry, creating it when asked.
// The entry may be written: it is this Step's own copy (see own; read-only
// loops use peek).
func (d *decider) entry(s *slotView) *status.PodProgress {
	if s.entry < 0 {
		return nil
	}
	d.own()
	return &d.us.Pods[s.entry]
}

func (d *decider) newEntry(s *slotView, stage status.Stage, surge bool) *status.PodProgress {
	d.own()
	d.us.Pods = append(d.us.Pods, status.PodProgress{Index: s.index, Stage: stage, Since: d.mnow, Version: d.wantOf(s), Surge: surge})
	s.entry = int32(len(d.us.Pods) - 1)
	return &d.us.Pods[s.entry]
}

// setStage moves an entry to a stage, resetting its per-stage counters.
func (d *decider) setStage(e *status.PodProgress, stage status.Stage) {
	if e.Stage == stage {
		return
	}
	e.Stage = stage
	e.Since = d.mnow
	e.Passes, e.Fails, e.Errors = 0, 0, 0
	e.LastAttempt = nil
	e.Message = ""
}

// fail marks slot i failed.
func (d *decider) fail(s *slotView, e *status.PodProgress, reason, msg string) {
	d.setStage(e, status.StageFailed)
	e.Message = msg
	d.us.Failures = append(d.us.Failures, status.Failure{Index: s.index, Error: msg, Timestamp: d.mnow, Reason: reason})
	d.event(ReasonPodFailed, s.index, true, "slot %d: %s", s.index, msg)
}

// due reports whether an entry's next attempt may run now, and asks to be
// woken when it may.
func (d *decider) due(e *status.PodProgress, every time.Duration) bool {
	if e.LastAttempt == nil {
		return true
	}
	if e.Errors > 0 {
		every = retryDelay(e.Errors, every)
	}
	at := e.LastAttempt.Add(every)
	if !d.now.Before(at) {
		return true
	}
	d.wake(at)
	return false
}

func retryDelay(errors int32, base time.Duration) time.Duration {
	if base <= 0 {
		base = defaultPoll
	}
	d := base
	for i := int32(1); i < errors && d < maxRetryDelay; i++ {
		d *= 2
	}
	if d > maxRetryDelay {
		d = maxRetryDelay
	}
	return d
}

func (d *decider) wait(s *slotView, e *status.PodProgress, reason string) {
	if e != nil {
		e.Message = reason
	}
	d.act(Action{Kind: ActionWait, Index: s.index, Version: d.wantOf(s), Reason: reason})
}

func (d *decider) pod(k int32) Pod { return d.pods[k] }

// podAction is an action on p, one of the listed pods (execute finds it
// by its position).
func (d *decider) podAction(kind ActionKind, s *slotView, p Pod, reason string) Action {
	at := d.podOf(s.index, p.UID)
	if at < 0 {
		// Not reached: p comes from d.pods, whose UIDs validatePods
		// indexed. Look it up the slow way all the same.
		at = slices.IndexFunc(d.pods, func(q Pod) bool { return q.UID == p.UID })
	}
	return Action{Kind: kind, Index: s.index, Version: p.Version, Pod: p.Name, Reason: reason, podAt: int32(at)}
}

// attempt decides for an attempt in flight.
func (d *decider) attempt() {
	us := d.us
	slots := d.obs.slots
	if !d.rollingBack && us.ToVersion != us.FromVersion {
		d.counted = slotFlags(&d.u.scratch.counted, len(slots))
	}
	candidates := d.u.scratch.cands[:0]
	allDone := true
	for i := range slots {
		s := &slots[i]
		if done, ok := d.steady(s); ok {
			// Its new pod is listed: the slot holds a maxUnavailable
			// unit only without a ready pod (as budgetUse finds).
			if !s.ready {
				d.unavailable++
			}
			allDone = allDone && done
			continue
		}
		done, candidate := d.slot(s)
		d.refresh(s)
		if candidate {
			candidates = append(candidates, s.index)
		}
		d.budgetUse(s)
		if !done {
			allDone = false
		}
	}
	d.u.scratch.cands = candidates // keep the grown buffer
	if d.waitReady {
		d.wake(d.oldestWaiting.Add(d.u.spec.podTimeout()))
	}
	// A failed slot turns the attempt around (or stops it).
	for k := range us.Pods {
		if us.Pods[k].Stage == status.StageFailed {
			d.dropWrites()
			d.onFailure(us.Pods[k])
			return
		}
	}
	if allDone {
		if !d.anyTerminating() {
			d.finishAttempt()
			return
		}
		d.act(Action{Kind: ActionWait, Index: -1, Reason: "waiting for old pods to go"})
		d.poll()
		return
	}
	if !d.rollingBack && (d.u.spec.RollingUpdate.Paused) {
		if len(candidates) > 0 && d.inFlight() == 0 {
			d.pause("the spec is paused")
			return
		}
		candidates = nil
	}
	d.schedule(candidates)
}

func (d *decider) anyTerminating() bool {
	for _, p := range d.pods {
		if p.Terminating {
			return true
		}
	}
	return false
}

// inFlight counts entries that are moving.
func (d *decider) inFlight() int {
	n := 0
	for _, e := range d.us.Pods {
		if e.Stage != status.StageDone && e.Stage != status.StageFailed {
			n++
		}
	}
	return n
}

// slot advances one slot's transition from what is observed. It reports
// whether the slot is where the attempt wants it (done) and whether it is a
// candidate to start moving (it then waits for budget).
func (d *decider) slot(s *slotView) (done, candidate bool) {
	e := d.entry(s)
	if e != nil && e.Stage == status.StageFailed {
		return false, false
	}
	if e != nil && e.Version != d.wantOf(s) && created(e) {
		// A pod created before the attempt turned (rollback, new
		// target) that the view does not show yet: it counts toward the
		// budget, and the slot is not done, until it is listed.
		if !d.listed(s.index, e.Version) && d.now.Before(e.LastAttempt.Add(d.u.spec.podTimeout())) {
			d.wait(s, e, fmt.Sprintf("waiting for the pod created at %s to be listed", e.Version))
			d.poll()
			return false, false
		}
		d.dropEntry(s)
		e = nil
	}
	if e != nil && e.Version != d.wantOf(s) {
		// The entry belongs to another direction or target: start over.
		e.Version = d.wantOf(s)
		d.setStage(e, status.StageWaitingReady)
	}
	switch {
	case s.newPod >= 0 && s.oldCount == 0 && s.dupPod < 0:
		p := d.pod(s.newPod)
		if e == nil {
			if d.wantOf(s) == d.us.FromVersion {
				return true, false // untouched (held, or never moved)
			}
			e = d.newEntry(s, status.StageWaitingReady, false)
		}
		if e.Stage == status.StageDone && e.NewUID == p.UID {
			return true, false
		}
		if e.Stage == status.StageDone || (e.Stage == status.StageDeleting || e.Stage == status.StageFailover) && e.Surge {
			// The verified pod was replaced, or a surge slot finished
			// retiring its old pod (its new pod was verified already).
			if e.NewUID == p.UID {
				d.setStage(e, status.StageDone)
				return true, false
			}
			d.setStage(e, status.StageWaitingReady)
		}
		return d.readyAndVerify(s, e, p), false
	case s.newPod >= 0:
		// New pod beside an old one (surge), or a duplicate at want.
		p := d.pod(s.newPod)
		if e == nil {
			e = d.newEntry(s, status.StageWaitingReady, true)
		}
		e.Surge = true
		switch e.Stage {
		case status.StageFailover, status.StageDeleting, status.StageDone:
		default:
			if !d.readyAndVerify(s, e, p) {
				return false, false
			}
		}
		if !p.Ready {
			// The verified new pod lost Ready before the old one went.
			d.setStage(e, status.StageWaitingReady)
			return d.readyAndVerify(s, e, p), false
		}
		old := s.oldPod
		if old < 0 {
			old = s.dupPod
		}
		d.retire(s, e, d.pod(old))
		return false, false
	case s.oldCount > 0:
		// Only pods of another version: not started, or in place before
		// the delete went through.
		if s.held {
			return true, false
		}
		if s.oldCount > 1 {
			// Several pods of other versions (an abandoned target's surge
			// pod beside the original): keep the best, remove the rest.
			// The slot keeps its ready pod, so this costs no budget.
			d.removeExtra(s)
			return false, false
		}
		if e != nil && s.ready && e.NewUID != "" && !d.slotHasUID(s, e.NewUID) && d.now.Before(e.Since.Add(d.u.spec.podTimeout())) {
			// The slot's new pod was listed and is not now: a lagging
			// list may hide it (it still counts toward the budget), or
			// it is gone. Leave the ready old pod alone for a while, then
			// start over. (A broken old pod is replaced at once.)
			d.wait(s, e, "waiting for the new pod to be listed again")
			d.poll()
			return false, false
		}
		retiring := e != nil && e.Surge && (e.Stage == status.StageFailover || e.Stage == status.StageDeleting)
		if e == nil || e.Stage == status.StageDone || e.Stage == status.StageWaitingReady || e.Stage == status.StageVerifying || retiring {
			if e != nil {
				// The new pod vanished and an old one is listed again
				// (a stale view, or someone recreated it), or a surge
				// slot's new pod is gone before its old pod was stopped:
				// start over (stopping the old pod now would leave the
				// slot with nothing).
				d.dropEntry(s)
			}
			return false, true
		}
		d.beforeStop(s, e, d.pod(s.oldPod))
		return false, false
	default:
		// Nothing but terminating pods, or nothing at all.
		if s.terminating > 0 {
			if e == nil {
				e = d.newEntry(s, status.StageDeleting, false)
			}
			if e.Stage != status.StageDeleting && !created(e) {
				// (A pod created already stays counted until listed.)
				d.setStage(e, status.StageDeleting)
			}
			d.wait(s, e, "waiting for the old pod to go")
			d.poll()
			return false, false
		}
		if e == nil {
			e = d.newEntry(s, status.StageCreating, false)
		}
		if e.Stage != status.StageCreating {
			if e.Stage == status.StageDeleting && e.Surge {
				// A surge slot whose pods are all gone: recreate in place.
				e.Surge = false
			}
			d.setStage(e, status.StageCreating)
		}
		d.create(s, e, false)
		return false, false
	}
}

// removeExtra deletes one pod of slot s other than its best old pod.
func (d *decider) removeExtra(s *slotView) {
	keep := d.pods[s.oldPod]
	for _, p := range d.pods {
		if p.Index == s.index && !p.Terminating && p.UID != keep.UID && p.Version != d.wantOf(s) {
			e := d.entry(s)
			if d.needsFailover(p) {
				if e == nil || e.Stage == status.StageFailover {
					// The entry remembers the ask: Failover once, wait for
					// the role to move, fail at the timeout.
					if e == nil {
						e = d.newEntry(s, status.StageFailover, false)
					}
					d.failover(s, e, p)
					return
				}
				d.act(d.podAction(ActionFailover, s, p, "move the primary role off an extra pod"))
				return
			}
			if e != nil && e.Stage == status.StageFailover {
				// The role moved: the slot starts over once its extra
				// pods are gone.
				d.dropEntry(s)
			}
			d.act(d.podAction(ActionDelete, s, p, fmt.Sprintf("extra pod beside %s", keep.Name)))
			return
		}
	}
}

func (d *decider) dropEntry(s *slotView) {
	// Mark the entry as unused; compacted at the end of the Step.
	e := d.entry(s)
	e.Index = -1
	s.entry = -1
	d.cleanAt = nil // finish compacts
}

// create issues (or waits for) the Create of slot s's new pod.
func (d *decider) create(s *slotView, e *status.PodProgress, surge bool) {
	if e.LastAttempt != nil && e.Errors == 0 {
		// Created; the view does not show it yet.
		deadline := e.LastAttempt.Add(d.u.spec.podTimeout())
		if !d.now.Before(deadline) {
			d.fail(s, e, "Timeout", fmt.Sprintf("pod for slot %d was created at %s but never appeared", s.index, e.LastAttempt.UTC().Format(time.RFC3339)))
			return
		}
		d.wait(s, e, "waiting for the created pod to be listed")
		d.poll()
		return
	}
	if !d.due(e, defaultPoll) {
		d.wait(s, e, "retrying create: "+e.Message)
		return
	}
	if !d.room(s) {
		// Terminating pods count toward replicas + maxSurge until gone.
		d.wait(s, e, fmt.Sprintf("waiting for room: %d pods listed, at most %d (replicas + maxSurge)", len(d.pods), d.want.Replicas+d.surge))
		d.poll()
		return
	}
	d.act(Action{Kind: ActionCreate, Index: s.index, Version: d.wantOf(s), Surge: surge})
}

// created reports whether e's Create went through (its pod may not be
// listed yet).
func created(e *status.PodProgress) bool {
	return e.Stage == status.StageCreating && e.LastAttempt != nil && e.Errors == 0
}

// keepCreating keeps, from the entries of an attempt that turns around, those
// whose pod was created and may not be listed yet: the budget counts them
// until they are (see slot). It returns a new slice.
func keepCreating(entries []status.PodProgress) []status.PodProgress {
	var kept []status.PodProgress
	for k := range entries {
		if created(&entries[k]) {
			e := entries[k]
			e.LastAttempt = e.LastAttempt.DeepCopy()
			kept = append(kept, e)
		}
	}
	return kept
}

// hasUID reports whether the view lists the pod uid.
func (d *decider) hasUID(uid string) bool {
	if set := &d.u.scratch.names; set.describes(d.pods) {
		return set.uid(uid) >= 0
	}
	for k := range d.pods {
		if d.pods[k].UID == uid {
			return true
		}
	}
	return false
}

// listed reports whether the view lists a pod of slot i at version v.
func (d *decider) listed(i int32, v string) bool {
	if i >= 0 && int(i) < len(d.obs.slots) {
		s := &d.obs.slots[i]
		for _, k := range [...]int32{s.newPod, s.oldPod, s.dupPod} {
			if k >= 0 && d.pods[k].Version == v {
				return true
			}
		}
		if s.terminating == 0 && s.oldCount <= 1 && v != d.wantOf(s) {
			// The view knows every pod of the slot at another version
			// than want: none or oldPod.
			return false
		}
	}
	for k := range d.pods {
		if d.pods[k].Index == i && d.pods[k].Version == v {
			return true
		}
	}
	return false
}

// unlisted reports whether slot s has a pod created (or about to be) that
// the view does not show: its entry creates one.
func (d *decider) unlisted(s *slotView, e *status.PodProgress) bool {
	switch {
	case e == nil:
		return false
	case e.NewUID != "" && !d.slotHasUID(s, e.NewUID):
		// Its new pod was listed before: a lagging list hides it now.
		return true
	case e.Version != d.wantOf(s):
		// Kept across a turn of the attempt; slot dropped it once listed.
		return e.Stage == status.StageCreating
	case s.newPod >= 0:
		return false
	case e.Stage == status.StageCreating:
		return e.Surge || s.oldCount == 0
	}
	return e.Stage == status.StagePreCheck && e.Surge
}

// room reports whether a pod for slot s fits the pod budget: every listed
// pod counts, terminating ones included, and so does every other slot's
// pod created (or about to be) that the view does not show yet, as
// schedule counts them.
func (d *decider) room(s *slotView) bool {
	c := d.slotCache()
	return int32(len(d.pods))+c.unlistedN-b2i(c.unlisted[s.index]) < d.want.Replicas+d.surge
}

// slotCache returns the per-slot budget predicates, computing them for
// every slot at the first need in a Step (see budgetCache).
func (d *decider) slotCache() *budgetCache {
	c := &d.cache
	if c.known {
		return c
	}
	n := len(d.obs.slots)
	c.unlisted = slotFlags(&d.u.scratch.unlisted, n)
	c.down = slotFlags(&d.u.scratch.down, n)
	c.unlistedN, c.downN = 0, 0
	c.known = true
	for i := range d.obs.slots {
		d.refresh(&d.obs.slots[i])
	}
	return c
}

// budgetCache keeps, per slot, whether it has a pod the view does not
// show (unlisted) and whether it is down or about to go down in place
// (down), with their sums, for room and mayStop. Computed at the first
// need in a Step, it is refreshed after each decision on a slot, so that
// a Step that starts a thousand slots stays linear.
type budgetCache struct {
	known            bool
	unlisted, down   []bool
	unlistedN, downN int32
}

// refresh recomputes slot s's entries in the budget cache after a
// decision on s (nothing to do before the cache is needed).
func (d *decider) refresh(s *slotView) {
	c := &d.cache
	if !c.known {
		return
	}
	e := d.peek(s) // read only
	u := d.unlisted(s, e)
	down := d.holdsUnit(s, e)
	c.unlistedN += b2i(u) - b2i(c.unlisted[s.index])
	c.downN += b2i(down) - b2i(c.down[s.index])
	c.unlisted[s.index], c.down[s.index] = u, down
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// beforeStop runs the stages that precede stopping a slot's old pod (in
// place) or creating its surge pod: failover, pre-upgrade check, delete or
// create.
func (d *decider) beforeStop(s *slotView, e *status.PodProgress, old Pod) {
	switch e.Stage {
	case status.StageFailover:
		if !d.failover(s, e, old) {
			return
		}
		d.afterFailover(s, e, old)
	case status.StagePreCheck:
		if !d.preCheck(s, e, old) {
			return
		}
		d.afterPreCheck(s, e, old)
	case status.StageDeleting:
		d.deleteOld(s, e, old)
	case status.StageCreating:
		if e.Surge {
			d.create(s, e, true)
			return
		}
		// In place, but the old pod is listed again: delete it first.
		d.setStage(e, status.StageDeleting)
		d.deleteOld(s, e, old)
	default:
		d.setStage(e, status.StageDeleting)
		d.deleteOld(s, e, old)
	}
}

// start begins a slot's transition (budget granted).
func (d *decider) start(s *slotView, old Pod, surge bool) {
	e := d.entry(s)
	if e == nil {
		e = d.newEntry(s, status.StagePreCheck, surge)
	}
	e.Surge = surge
	e.Version = d.wantOf(s)
	switch {
	case !surge && d.needsFailover(old):
		d.setStage(e, status.StageFailover)
		if d.failover(s, e, old) {
			d.afterFailover(s, e, old)
		}
	case d.preEnabled() && old.Ready && !d.rollingBack:
		d.setStage(e, status.StagePreCheck)
		if d.preCheck(s, e, old) {
			d.afterPreCheck(s, e, old)
		}
	default:
		d.afterPreCheck(s, e, old)
	}
}

func (d *decider) preEnabled() bool {
	return d.u.pre != nil || d.u.spec.PreUpgradeCheck.Enabled
}

func (d *decider) afterFailover(s *slotView, e *status.PodProgress, old Pod) {
	if e.Surge {
		d.setStage(e, status.StageDeleting)
		d.deleteOld(s, e, old)
		return
	}
	if d.preEnabled() && old.Ready && !d.rollingBack {
		d.setStage(e, status.StagePreCheck)
		if !d.preCheck(s, e, old) {
			return
		}
	}
	d.afterPreCheck(s, e, old)
}

func (d *decider) afterPreCheck(s *slotView, e *status.PodProgress, old Pod) {
	if e.Surge {
		d.setStage(e, status.StageCreating)
		d.create(s, e, true)
		return
	}
	d.setStage(e, status.StageDeleting)
	d.deleteOld(s, e, old)
}

// failover reports whether old no longer holds the primary role; until
// then it asks the driver to move it, once, and waits.
func (d *decider) failover(s *slotView, e *status.PodProgress, old Pod) bool {
	if !d.needsFailover(old) {
		return true
	}
	deadline := e.Since.Add(d.u.spec.podTimeout())
	if !d.now.Before(deadline) {
		msg := fmt.Sprintf("pod %s still holds the primary role %s after failover was asked", old.Name, d.u.spec.podTimeout())
		if e.Message != "" {
			msg += ": " + e.Message
		}
		d.fail(s, e, "FailoverFailed", msg)
		return false
	}
	d.wake(deadline)
	// Ask once; ask again when the role has not moved a while later (the
	// pod chosen to take it may have died meanwhile).
	if e.LastAttempt == nil || e.Errors > 0 || !d.now.Before(e.LastAttempt.Add(d.u.spec.podTimeout()/4)) {
		if o := d.pendingStop(s); o >= 0 {
			// The role could land on a pod another slot is about to stop,
			// and that slot would hand it straight back. Move it once that
			// pod is gone; the failover's time starts then.
			if e.LastAttempt == nil {
				e.Since = d.mnow
			}
			d.wait(s, e, fmt.Sprintf("waiting for slot %d to stop its pod before moving the primary role off pod %s", o, old.Name))
			d.poll()
			return false
		}
		if d.due(e, defaultPoll) {
			d.act(d.podAction(ActionFailover, s, old, "move the primary role before stopping"))
			return false
		}
	}
	d.wait(s, e, fmt.Sprintf("waiting for pod %s to give up the primary role", old.Name))
	d.poll()
	return false
}

// pendingStop returns another slot whose transition is about to stop its
// pod (failover, pre-check or delete) while that pod still runs, or -1.
func (d *decider) pendingStop(s *slotView) int32 {
	for i := range d.obs.slots {
		o := &d.obs.slots[i]
		if o.index == s.index || o.oldPod < 0 {
			continue
		}
		if e := d.entry(o); e != nil {
			switch e.Stage {
			case status.StageFailover, status.StagePreCheck, status.StageDeleting:
				return o.index
			}
		}
	}
	return -1
}

// preCheck reports whether the pre-upgrade check has passed for slot s;
// until then it runs it at its interval within its timeout.
func (d *decider) preCheck(s *slotView, e *status.PodProgress, old Pod) bool {
	c := d.u.spec.PreUpgradeCheck
	succ, _, _ := c.Thresholds()
	if e.Passes >= succ {
		return true
	}
	deadline := e.Since.Add(c.TimeoutOrDefault())
	if e.LastAttempt != nil && !d.now.Before(deadline) {
		reason := "PreCheckFailed"
		if e.Errors > 0 {
			reason = "PreCheckError"
		}
		d.fail(s, e, reason, fmt.Sprintf("pre-upgrade check of pod %s did not pass within %s: %s", old.Name, c.TimeoutOrDefault(), e.Message))
		return false
	}
	if d.due(e, c.IntervalOrDefault()) {
		d.act(d.podAction(ActionPreCheck, s, old, ""))
		return false
	}
	d.wait(s, e, "pre-upgrade check: "+e.Message)
	return false
}

// needsFailover reports whether old holds the primary role, the driver can
// move it, and some other ready pod could take it.
func (d *decider) needsFailover(old Pod) bool {
	if !old.Primary || !d.canFailover {
		return false
	}
	for _, p := range d.pods {
		if p.UID != old.UID && p.Ready && !p.Terminating {
			return true
		}
	}
	return false
}

// deleteOld deletes the old pod once, then waits for it to go. A pod that
// holds the primary role (it may have just received it) is failed over
// first.
func (d *decider) deleteOld(s *slotView, e *status.PodProgress, old Pod) {
	if d.needsFailover(old) {
		d.setStage(e, status.StageFailover)
		if d.failover(s, e, old) {
			d.setStage(e, status.StageDeleting)
		} else {
			return
		}
	}
	if !e.Surge && old.Ready && e.OldUID != old.UID && !d.mayStop(s) {
		// A ready pod is stopped only within maxUnavailable: the slot
		// started while its pod was down (free) and the pod came back,
		// or other slots went down since. Start over through the budget.
		d.dropEntry(s)
		d.act(Action{Kind: ActionWait, Index: s.index, Version: d.wantOf(s), Reason: fmt.Sprintf("budget full: pod %s is ready again", old.Name)})
		d.poll()
		return
	}
	if e.OldUID == old.UID && e.Errors == 0 && e.LastAttempt != nil {
		// Asked already; the view still lists it as running. Ask again
		// only after a while (the delete is idempotent by UID).
		if d.now.Before(e.LastAttempt.Add(d.u.spec.podTimeout() / 4)) {
			d.wait(s, e, fmt.Sprintf("waiting for pod %s to stop", old.Name))
			d.poll()
			return
		}
	} else if !d.due(e, defaultPoll) {
		d.wait(s, e, "retrying delete: "+e.Message)
		return
	}
	d.act(d.podAction(ActionDelete, s, old, ""))
}

// mayStop reports whether slot s's ready pod may be stopped in place now:
// the other slots without a ready pod, or about to lose it (an in-place
// transition before its stop), are fewer than maxUnavailable.
func (d *decider) mayStop(s *slotView) bool {
	c := d.slotCache()
	return c.downN-b2i(c.down[s.index]) < d.unav
}

// retire finishes a surge slot: fail over the old pod if it is primary,
// then delete it.
func (d *decider) retire(s *slotView, e *status.PodProgress, old Pod) {
	if d.needsFailover(old) {
		if e.Stage != status.StageFailover {
			d.setStage(e, status.StageFailover)
		}
		if !d.failover(s, e, old) {
			return
		}
	}
	if e.Stage != status.StageDeleting {
		d.setStage(e, status.StageDeleting)
	}
	d.deleteOld(s, e, old)
}

// readyAndVerify waits for p to be Ready, then verifies it. It reports
// whether the slot is done.
func (d *decider) readyAndVerify(s *slotView, e *status.PodProgress, p Pod) bool {
	if e.NewUID != p.UID {
		e.NewUID = p.UID
		if e.Stage != status.StageWaitingReady {
			d.setStage(e, status.StageWaitingReady)
		}
	}
	if p.Failed != "" {
		d.fail(s, e, "PodFailed", fmt.Sprintf("pod %s (version %s) cannot start: %s", p.Name, p.Version, p.Failed))
		return false
	}
	timeout := d.u.spec.podTimeout()
	if !p.Ready {
		if e.Stage != status.StageWaitingReady {
			d.setStage(e, status.StageWaitingReady)
		}
		deadline := p.Created.Add(timeout)
		if !d.now.Before(deadline) {
			d.fail(s, e, "Timeout", fmt.Sprintf("pod %s (version %s) not ready within %s", p.Name, p.Version, timeout))
			return false
		}
		d.wait(s, e, waitingReady(e, p.Name))
		d.wake(deadline)
		d.poll()
		return false
	}
	if e.Stage != status.StageVerifying {
		d.setStage(e, status.StageVerifying)
	}
	if d.u.post == nil && !d.u.spec.PostUpgradeVerify.Enabled {
		d.markDone(s, e, p)
		return true
	}
	c := d.u.spec.PostUpgradeVerify
	succ, _, _ := c.Thresholds()
	if e.Passes >= succ {
		d.markDone(s, e, p)
		return true
	}
	deadline := e.Since.Add(timeout)
	if e.LastAttempt != nil && !d.now.Before(deadline) {
		d.fail(s, e, "Timeout", fmt.Sprintf("pod %s (version %s) not verified within %s: %s", p.Name, p.Version, timeout, e.Message))
		return false
	}
	d.wake(deadline)
	if d.due(e, c.IntervalOrDefault()) {
		d.act(d.podAction(ActionVerify, s, p, ""))
		return false
	}
	d.wait(s, e, "post-upgrade verification: "+e.Message)
	return false
}

// markDone records that slot s runs its version, ready and verified.
func (d *decider) markDone(s *slotView, e *status.PodProgress, p Pod) {
	announced := e.Stage == status.StageDone || e.VerifiedUID == p.UID
	d.setStage(e, status.StageDone)
	e.NewUID = p.UID
	e.VerifiedUID = p.UID
	e.Message = ""
	if !announced {
		what := "upgraded to"
		if d.rollingBack {
			what = "rolled back to"
		}
		d.event(ReasonPodUpgraded, s.index, false, "pod %s %s %s", p.Name, what, p.Version)
	}
}

// onFailure reacts to a failed slot: roll back, or stop.
func (d *decider) onFailure(f status.PodProgress) {
	st, us := d.st, d.us
	msg := fmt.Sprintf("slot %d failed: %s", f.Index, f.Message)
	if d.rollingBack {
		st.Phase = status.PhaseFailed
		us.Phase = status.UpgradeFailed
		us.CompletedAt = nil
		d.transition = true
		d.act(Action{Kind: ActionFail, Index: -1, Reason: msg})
		d.event(ReasonRollbackFailed, -1, true, "rollback %s -> %s failed: %s", us.ToVersion, us.FromVersion, msg)
		return
	}
	pol := d.u.spec.Rollback
	switch pol.Decide(st.RollbackCount) {
	case rollback.Start:
		d.startRollback(false, msg)
		return
	case rollback.LimitReached:
		d.event(ReasonRollbackLimitReached, -1, true, "%s; %s", msg, pol.Explain(st.RollbackCount))
	}
	st.Phase = status.PhaseFailed
	us.Phase = status.UpgradeFailed
	d.transition = true
	d.act(Action{Kind: ActionFail, Index: -1, Reason: msg + "; " + pol.Explain(st.RollbackCount)})
	d.event(ReasonUpgradeFailed, -1, true, "upgrade %s -> %s failed: %s; %s", us.FromVersion, us.ToVersion, msg, pol.Explain(st.RollbackCount))
}

// finishAttempt handles every slot being where the attempt wants it.
func (d *decider) finishAttempt() {
	st, us := d.st, d.us
	if d.rollingBack {
		st.Phase = status.PhaseRunning
		st.CurrentVersion = us.FromVersion
		st.TargetVersion = us.FromVersion
		us.Phase = status.UpgradeRolledBack
		us.CompletedAt = &d.mnow
		us.Pods = nil
		us.UpdatedReplicas = d.want.Replicas
		us.CurrentIndex = nil
		d.recoverFailures()
		d.transition = true
		d.act(Action{Kind: ActionComplete, Index: -1, Version: us.FromVersion, Reason: "rolled back"})
		d.event(ReasonRollbackCompleted, -1, true, "rolled back to %s: %s", us.FromVersion, us.RollbackReason)
		return
	}
	if d.part > 0 {
		d.pause(fmt.Sprintf("partition %d reached: slots %d..%d run %s", d.part, d.part, d.want.Replicas-1, us.ToVersion))
		return
	}
	st.Phase = status.PhaseRunning
	st.CurrentVersion = us.ToVersion
	st.TargetVersion = us.ToVersion
	st.RollbackCount = 0
	us.Phase = status.UpgradeCompleted
	us.CompletedAt = &d.mnow
	us.Pods = nil
	us.UpdatedReplicas = d.want.Replicas
	us.CurrentIndex = nil
	d.recoverFailures()
	d.transition = true
	d.act(Action{Kind: ActionComplete, Index: -1, Version: us.ToVersion, Reason: "every slot upgraded"})
	d.event(ReasonUpgradeCompleted, -1, false, "upgrade %s -> %s completed", us.FromVersion, us.ToVersion)
}

func (d *decider) pause(why string) {
	us := d.us
	if us.Phase != status.UpgradePaused {
		d.transition = true
		d.dropWrites()
		d.act(Action{Kind: ActionPause, Index: -1, Reason: why})
		d.event(ReasonUpgradePaused, -1, false, "upgrade %s -> %s paused: %s", us.FromVersion, us.ToVersion, why)
	}
	us.Phase = status.UpgradePaused
	us.Message = "paused: " + why
	d.st.Phase = status.PhaseUpgrading
}

func (d *decider) recoverFailures() {
	for k := range d.us.Failures {
		d.us.Failures[k].Recovered = true
	}
}

// budgetUse adds what slot s, decided already, takes of the budget: a slot
// holding a maxUnavailable unit (holdsUnit) counts as unavailable, a pod
// created that the view does not show yet counts toward the pods.
func (d *decider) budgetUse(s *slotView) {
	e := d.peek(s) // read only
	if d.holdsUnit(s, e) {
		d.unavailable++
	}
	if d.unlisted(s, e) {
		// A pod created (or about to be) that the view does not show.
		d.unlistedPods++
	}
}

// holdsUnit reports whether slot s, with entry e, holds a maxUnavailable
// unit: it has no ready pod; or it moves in place and its ready pod is
// about to stop (failover, check, or a delete the view does not show
// yet); or it moves in place and its new pod is not verified yet — the
// design's "验证成功 → 继续下一个": the next pod only after this one is
// verified — whatever the view shows of the old pod (a stale list may
// show it running after its delete).
func (d *decider) holdsUnit(s *slotView, e *status.PodProgress) bool {
	switch {
	case !s.ready:
		return true
	case e == nil || e.Surge:
		return false
	}
	switch e.Stage {
	case status.StageFailover, status.StagePreCheck, status.StageDeleting, status.StageCreating:
		return s.newPod < 0 && s.oldCount > 0
	case status.StageWaitingReady, status.StageVerifying:
		return true
	}
	return false
}

// schedule starts candidates while the budget allows: broken pods first
// and free, then, in the order's sequence, surge, then unavailable
// budget. The budget in use was summed by budgetUse over every slot.
func (d *decider) schedule(candidates []int32) {
	us := d.us
	if us.Phase == status.UpgradePaused && len(candidates) > 0 {
		us.Phase = status.UpgradeInProgress
		d.st.Phase = status.PhaseUpgrading
	}
	slots := d.obs.slots
	n := d.want.Replicas
	total := int32(len(d.pods)) + d.unlistedPods
	unavailable := d.unavailable
	order := d.u.spec.RollingUpdate.Order
	less := func(a, b int32) int {
		return compareBy(func(a, b int32) bool { return lessOrder(order, &slots[a], &slots[b]) }, a, b)
	}
	// Broken slots start at once (they cost nothing); of the ready ones
	// only those the budget lets start, and the first it does not, need
	// their place in the order: select them rather than sort every
	// candidate at every Step.
	broken, ready := d.u.scratch.broken[:0], d.u.scratch.ready32[:0]
	for _, i := range candidates {
		if slots[i].ready {
			ready = append(ready, i)
		} else {
			broken = append(broken, i)
		}
	}
	d.u.scratch.broken, d.u.scratch.ready32 = broken, ready
	slices.SortFunc(broken, less)
	for _, i := range broken {
		s := &slots[i]
		d.start(s, d.pod(s.oldPod), false)
		d.refresh(s)
	}
	free := int32(0)
	if d.surge > 0 {
		free += max(0, n+d.surge-total)
	}
	free += max(0, d.unav-unavailable)
	var first []int32
	switch k := min(int(free)+1, len(ready)); order {
	case Ordinal:
		first = ready[:k] // candidates come in slot order
	case ReverseOrdinal:
		first = ready[len(ready)-k:]
		slices.Reverse(first)
	default:
		first = smallest(ready, k, less, &d.u.scratch.heap)
	}
	for _, i := range first {
		s := &slots[i]
		old := d.pod(s.oldPod)
		switch {
		case d.surge > 0 && total < n+d.surge:
			total++
			d.start(s, old, true)
			d.refresh(s)
		case unavailable < d.unav:
			unavailable++
			d.start(s, old, false)
			d.refresh(s)
		default:
			d.blocked = fmt.Sprintf("waiting for budget: %d of %d pods (maxSurge %d), %d slot(s) without a ready pod (maxUnavailable %d)", total, n+d.surge, d.surge, unavailable, d.unav)
			d.act(Action{Kind: ActionWait, Index: i, Version: d.wantOf(s), Reason: "budget full"})
			d.poll()
			return
		}
	}
}

// smallest returns the k first of xs under cmp, in order, using buf: a
// bounded heap (n log k) when k is small, a sort of xs otherwise. xs may
// be reordered.
func smallest(xs []int32, k int, cmp func(a, b int32) int, buf *[]int32) []int32 {
	if k <= 0 {
		return nil
	}
	if k >= len(xs)/4 {
		slices.SortFunc(xs, cmp)
		return xs[:min(k, len(xs))]
	}
	// A max-heap of the k smallest seen so far: its root is the largest.
	h := (*buf)[:0]
	down := func(i int) {
		for {
			c := 2*i + 1
			if c >= len(h) {
				return
			}
			if c+1 < len(h) && cmp(h[c+1], h[c]) > 0 {
				c++
			}
			if cmp(h[c], h[i]) <= 0 {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	for _, x := range xs {
		switch {
		case len(h) < k:
			h = append(h, x)
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if cmp(h[i], h[p]) <= 0 {
					break
				}
				h[i], h[p] = h[p], h[i]
				i = p
			}
		case cmp(x, h[0]) < 0:
			h[0] = x
			down(0)
		}
	}
	*buf = h
	slices.SortFunc(h, cmp)
	return h
}

// lessOrder reports whether slot a moves before slot b under o.
func lessOrder(o Order, a, b *slotView) bool {
	switch o {
	case ReverseOrdinal:
		return a.index > b.index
	case PrimaryLast:
		if a.primary != b.primary {
			return !a.primary
		}
	case LongestFirst:
		if a.primary != b.primary {
			return !a.primary
		}
		if a.estimate != b.estimate {
			return a.estimate > b.estimate
		}
	}
	return a.index < b.index
}

// preHealth evaluates the health-check pre-upgrade check for slot i: every
// slot the upgrade is not moving has a ready pod, and slot i's pod is ready.
func (d *decider) preHealth(i int32) error {
	slots := d.obs.slots
	if !d.healthKnown {
		// Once per Step: the slots not moving whose pod is not ready.
		// Checks run after every decision, and no check makes a slot
		// that is not ready Done, so the list holds for the Step.
		d.healthKnown = true
		for k := range slots {
			s := &slots[k]
			if e := d.peek(s); !s.ready && (e == nil || e.Stage == status.StageDone) {
				d.unhealthy = append(d.unhealthy, s.index)
			}
		}
	}
	self := i >= 0 && int(i) < len(slots) && !slots[i].ready
	if len(d.unhealthy) == 0 && !self {
		return nil
	}
	var bad []string
	for _, j := range d.unhealthy {
		if self && i < j {
			bad, self = append(bad, fmt.Sprintf("slot %d", i)), false
		}
		if j == i {
			self = false
		}
		bad = append(bad, fmt.Sprintf("slot %d", j))
	}
	if self {
		bad = append(bad, fmt.Sprintf("slot %d", i))
	}
	return &verify.FailedError{Type: verify.TypeHealthCheck, Reason: fmt.Sprintf("not every pod of the group is Ready: %v", bad)}
}
