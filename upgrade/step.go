package upgrade

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/verify"
)

// Step observes the group, does at most one round of actions, updates st
// and returns when to call it again.
//
// Ordering contract (the caller's side, in the manner of raft's Ready):
//
//  1. Call Step with the status last persisted. A fresh Upgrader is fine.
//  2. Persist st after every Step, whatever Step returned, before acting
//     on the Result. st is updated even when Step returns an error (the
//     error then says which driver call failed); with a bad input error
//     (a desired state or pod list that cannot be, named in the error)
//     st is left unchanged.
//  3. Call Step again after Result.RequeueAfter, or sooner when a pod of
//     the group changes; when Result.Done, call it again only when the
//     desired state or the spec changes.
//
// Guarantees (the Upgrader's side):
//
//   - A Step that changes the attempt's phase (start, rollback, pause,
//     completion, failure) writes no pod: the decision is persisted before
//     anything acts on it, and is re-derived from the same observation
//     if the caller crashed before persisting.
//   - Within a Step, each slot gets at most one driver write, and the pod
//     budget (replicas + maxSurge pods, maxUnavailable slots without a
//     ready pod) holds after the writes, counting writes the driver's view
//     does not show yet as done.
//   - A delete names the pod's UID; a slot's old pod is deleted again only
//     when the view still lists it running long after the first delete.
//   - Everything Step decides is derived from st and the observed pods, so
//     a stale st (the caller crashed before persisting) or a lost one
//     converges to the same outcome.
func (u *Upgrader) Step(ctx context.Context, st *status.Status, want Desired) (Result, error) {
	if st == nil {
		return Result{}, fmt.Errorf("upgrade: status is nil")
	}
	pods, err := u.driver.Pods(ctx)
	if err != nil {
		return Result{RequeueAfter: defaultPoll}, fmt.Errorf("upgrade: list pods: %w", err)
	}
	defer u.guardShared(st)()
	work := copyStatus(st)
	d := u.newDecider(work, want, pods)
	d.share(work)
	d.actions = u.scratch.actions[:0] // Step hands no action out: reuse
	defer u.scratch.keepActions(d)
	if err := d.decide(); err != nil {
		return Result{}, err
	}
	errs := u.execute(ctx, d)
	d.finish()
	*st = *work
	u.emit(ctx, d.events)
	return d.result(), errors.Join(errs...)
}

// Plan returns what Step would do now, without doing it: no pod is
// written, no check runs, no event is sent and st is not changed.
func (u *Upgrader) Plan(ctx context.Context, st *status.Status, want Desired) (Plan, error) {
	if st == nil {
		return Plan{}, fmt.Errorf("upgrade: status is nil")
	}
	pods, err := u.driver.Pods(ctx)
	if err != nil {
		return Plan{}, fmt.Errorf("upgrade: list pods: %w", err)
	}
	defer u.guardShared(st)()
	work := copyStatus(st)
	d := u.newDecider(work, want, pods)
	d.share(work)
	// Next is handed out: a new list, as long as the last Plan's.
	d.actions = make([]Action, 0, u.scratch.planActions)
	d.planning = true
	if err := d.decide(); err != nil {
		return Plan{}, err
	}
	d.finish()
	u.scratch.planActions = len(d.actions)
	p := Plan{Next: slices.Clip(d.actions), MaxSurge: d.surge, MaxUnavailable: d.unav}
	if len(p.Next) == 0 {
		p.Next = nil
	}
	from, to := work.CurrentVersion, want.Version
	if us := work.UpgradeStatus; us != nil && active(us.Phase) {
		from, to = us.FromVersion, us.ToVersion
		if us.Phase == status.UpgradeRollingBack {
			from, to = us.ToVersion, us.FromVersion
		}
		p.Phase = string(us.Phase)
		p.Message = us.Message
	}
	p.From, p.To = from, to
	if from != to {
		p.Held, p.Order = u.order(d, want.Replicas)
	}
	return p, nil
}

// order lists held slots and the slots still to move, in the order the
// Upgrader will move them.
// slotRank is a slot's key in the engine's order (see order): 0 broken,
// 1 broken primary (kept last), 2 ready, 3 ready primary; 0xff done.
func slotRank(ready, primaryLast, done bool) uint8 {
	switch {
	case done:
		return 0xff
	case ready && primaryLast:
		return 3
	case ready:
		return 2
	case primaryLast:
		return 1
	}
	return 0
}

func (u *Upgrader) order(d *decider, replicas int32) (held, todo []int32) {
	rollingBack := d.us != nil && d.us.Phase == status.UpgradeRollingBack
	part := d.part
	if rollingBack {
		part = 0
	}
	held = make([]int32, 0, part)
	for i := int32(0); i < part; i++ {
		held = append(held, i)
	}
	to := d.want.Version
	if d.us != nil && active(d.us.Phase) {
		to = d.us.ToVersion
		if rollingBack {
			to = d.us.FromVersion
		}
	}
	n := int(max(replicas, 0))
	o := u.spec.RollingUpdate.Order
	primaryLast := o == PrimaryLast || o == LongestFirst
	// rank[i] is slot i's key in the engine's order (schedule's less):
	// broken (not ready) slots first, then, for PrimaryLast and
	// LongestFirst, the primary's slot last; done marks the slots already
	// at the target.
	rank := slotBytes(&u.scratch.rank, n)
	var estimate []time.Duration
	if o == LongestFirst {
		estimate = slotDurations(&u.scratch.estimate, n)
	}
	const done = 0xff
	if slots := d.obs.slots; !u.debugOrderFromPods && len(slots) == n && d.us != nil && active(d.us.Phase) && rollingBack == d.rollingBack {
		// The Step observed the slots in this direction: newPod is a
		// running pod at the target.
		for i := part; i < replicas; i++ {
			s := &slots[i]
			rank[i] = slotRank(s.ready, s.primary && primaryLast, s.newPod >= 0)
			if estimate != nil {
				estimate[i] = s.estimate
			}
		}
	} else {
		primary := slotFlags(&u.scratch.flag, n)
		ready := slotFlags(&u.scratch.ready, n)
		atTarget := slotFlags(&u.scratch.flag2, n)
		for k := range d.pods {
			p := &d.pods[k]
			if p.Terminating || p.Index < 0 || p.Index >= replicas {
				continue
			}
			primary[p.Index] = primary[p.Index] || p.Primary
			ready[p.Index] = ready[p.Index] || p.Ready
			atTarget[p.Index] = atTarget[p.Index] || p.Version == to
			if estimate != nil && p.Estimate > estimate[p.Index] {
				estimate[p.Index] = p.Estimate
			}
		}
		for i := part; i < replicas; i++ {
			rank[i] = slotRank(ready[i], primary[i] && primaryLast, atTarget[i])
		}
	}
	// The ranks take four values: a counting sort places every slot in
	// one more pass, by index (descending for ReverseOrdinal), with no
	// comparison; LongestFirst then sorts each rank by estimate.
	var at [5]int // at[r]: where rank r starts in todo
	for i := part; i < replicas; i++ {
		if r := rank[i]; r != done {
			at[r+1]++
		}
	}
	for r := 1; r < len(at); r++ {
		at[r] += at[r-1]
	}
	count := at[4]
	if count == 0 {
		return held, nil
	}
	bounds := at
	todo = make([]int32, count)
	place := func(i int32) {
		if r := rank[i]; r != done {
			todo[at[r]] = i
			at[r]++
		}
	}
	if o == ReverseOrdinal {
		for i := replicas - 1; i >= part; i-- {
			place(i)
		}
	} else {
		for i := part; i < replicas; i++ {
			place(i)
		}
	}
	if estimate != nil {
		for r := range 4 {
			// Stable: equal estimates stay in index order.
			slices.SortStableFunc(todo[bounds[r]:bounds[r+1]], func(a, b int32) int { return cmp.Compare(estimate[b], estimate[a]) })
		}
	}
	return held, todo
}

func (u *Upgrader) newDecider(st *status.Status, want Desired, pods []Pod) *decider {
	now := u.clock.Now()
	return &decider{u: u, now: now, mnow: metav1.NewTime(now), st: st, want: want, pods: pods, readySlots: -1}
}

// execute performs the decided actions and records their results in the
// working status. It returns the driver errors met.
func (u *Upgrader) execute(ctx context.Context, d *decider) []error {
	var errs []error
	failedOver := false
	for _, a := range d.actions {
		if failedOver && a.Kind == ActionDelete {
			// A failover of this round may hand the role to this pod:
			// decide again from a fresh view.
			if e := u.entryOf(d, a.Index); e != nil {
				e.Message = "delete deferred: a failover ran in the same round"
			}
			d.requeue = 0
			continue
		}
		switch a.Kind {
		case ActionStartUpgrade:
			u.startUpgrade(ctx, d)
		case ActionRetarget:
			u.retarget(ctx, d)
		case ActionCreate, ActionDelete, ActionFailover:
			if err := u.write(ctx, d, a); err != nil {
				errs = append(errs, err)
			} else if a.Kind == ActionFailover {
				// The role may move (a failover that failed moved
				// nothing, and deferring on it would let a failing
				// failover hold back every other slot's stop).
				failedOver = true
			}
		case ActionPreCheck, ActionVerify:
			u.check(ctx, d, a)
		}
	}
	if us := d.us; us != nil {
		// The oldest stopped pods are long gone.
		if n := len(us.Retired) - max(16, 4*int(d.want.Replicas)); n > 0 {
			us.Retired = slices.Delete(d.ownRetired(), 0, n)
		}
	}
	return errs
}

func (u *Upgrader) entryOf(d *decider, i int32) *status.PodProgress {
	if d.us == nil || d.obs.slots == nil || i < 0 || int(i) >= len(d.obs.slots) {
		return nil
	}
	return d.entry(&d.obs.slots[i])
}

// write performs one driver write and records its outcome.
func (u *Upgrader) write(ctx context.Context, d *decider, a Action) error {
	var err error
	log := u.log.WithValues("action", string(a.Kind), "index", a.Index, "version", a.Version)
	if a.Pod != "" {
		log = log.WithValues("pod", a.Pod)
	}
	if d.us != nil {
		log = log.WithValues("from", d.us.FromVersion, "to", d.us.ToVersion)
	}
	var pod Pod
	switch a.Kind {
	case ActionCreate:
		err = u.driver.Create(ctx, a.Index, a.Version, a.Surge)
	case ActionDelete:
		pod = d.pods[a.podAt]
		err = u.driver.Delete(ctx, pod)
	case ActionFailover:
		pod = d.pods[a.podAt]
		err = u.driver.(Failoverer).Failover(ctx, pod)
	}
	e := u.entryOf(d, a.Index)
	if e != nil {
		now := d.mnow
		e.LastAttempt = &now
		if err != nil {
			e.Errors++
			e.Message = fmt.Sprintf("%s: %v", strings.ToLower(string(a.Kind)), err)
		} else {
			e.Errors = 0
			e.Message = ""
			if a.Kind == ActionDelete {
				e.OldUID = pod.UID
			}
		}
	}
	if err == nil && a.Kind == ActionDelete && d.us != nil {
		// Remembered beyond the attempt (the next one carries the list):
		// a lagging list must not show this pod running to a later Step,
		// whatever direction it takes. (It is not in the list yet: the
		// pods it names are terminating to the Upgrader, which deletes
		// only running pods.) execute trims the oldest.
		d.us.Retired = append(d.ownRetired(), pod.UID)
	}
	if err != nil {
		log.Error(err, "driver call failed")
		if a.Pod != "" {
			return fmt.Errorf("upgrade: pod %s: %s: %w", a.Pod, strings.ToLower(string(a.Kind)), err)
		}
		return fmt.Errorf("upgrade: slot %d: %s: %w", a.Index, strings.ToLower(string(a.Kind)), err)
	}
	log.Info("done", "surge", a.Surge)
	return nil
}

// check runs a pre-upgrade check or a post-upgrade verification once and
// counts its outcome.
func (u *Upgrader) check(ctx context.Context, d *decider, a Action) {
	e := u.entryOf(d, a.Index)
	if e == nil {
		return
	}
	c := u.spec.PostUpgradeVerify
	v := u.post
	if a.Kind == ActionPreCheck {
		c = u.spec.PreUpgradeCheck
		v = u.pre
	}
	var err error
	pod := &d.pods[a.podAt]
	switch {
	case v != nil:
		cctx, cancel := context.WithTimeout(ctx, c.TimeoutOrDefault())
		err = v.Verify(cctx, pod.Target())
		cancel()
	case a.Kind == ActionPreCheck && c.Type == verify.TypeHealthCheck:
		err = d.preHealth(a.Index)
	case c.Type == verify.TypeHealthCheck:
		if !pod.Ready {
			err = &verify.FailedError{Type: verify.TypeHealthCheck, Reason: fmt.Sprintf("pod %s is not Ready", pod.Name)}
		}
	default:
		err = fmt.Errorf("no verifier for %s check", c.Type)
	}
	now := d.mnow
	e.LastAttempt = &now
	succ, failT, errT := c.Thresholds()
	what := "post-upgrade verification"
	if a.Kind == ActionPreCheck {
		what = "pre-upgrade check"
	}
	log := u.log.WithValues("check", what, "index", a.Index, "pod", a.Pod, "version", a.Version)
	switch verify.Classify(err) {
	case verify.Passed:
		e.Passes++
		e.Fails, e.Errors = 0, 0
		e.Message = fmt.Sprintf("passed %d/%d", e.Passes, succ)
		log.V(1).Info("check passed", "passes", e.Passes)
		if a.Kind == ActionVerify && e.Passes >= succ {
			d.markDone(&d.obs.slots[a.Index], e, *pod)
		}
	case verify.Failed:
		e.Passes = 0
		e.Fails++
		e.Message = fmt.Sprintf("failed (%d/%d): %v", e.Fails, failT, err)
		log.Info("check failed", "error", err.Error(), "fails", e.Fails)
		if a.Kind == ActionVerify && e.Fails >= failT {
			d.fail(&d.obs.slots[a.Index], e, "CheckFailed", fmt.Sprintf("%s of pod %s failed: %v", what, a.Pod, err))
		}
	default:
		e.Passes = 0
		e.Errors++
		e.Message = fmt.Sprintf("could not run (%d/%d): %v", e.Errors, errT, err)
		log.Info("check could not run", "error", err.Error(), "errors", e.Errors)
		if a.Kind == ActionVerify && e.Errors >= errT {
			d.fail(&d.obs.slots[a.Index], e, "CheckError", fmt.Sprintf("%s of pod %s could not run: %v", what, a.Pod, err))
		}
	}
}

// startUpgrade runs the compatibility prechecks and starts the attempt, or
// records their refusal.
func (u *Upgrader) startUpgrade(ctx context.Context, d *decider) {
	st, want := d.st, d.want
	from, to := st.CurrentVersion, want.Version
	var retired []string // the previous attempt's stops, still remembered
	if st.UpgradeStatus != nil {
		retired = slices.Clone(st.UpgradeStatus.Retired)
	}
	if err := u.runPrechecks(ctx, from, to); err != nil {
		d.refused = true
		st.TargetVersion = to
		st.UpgradeStatus = &status.UpgradeStatus{
			Phase: status.UpgradeFailed, FromVersion: from, ToVersion: to,
			StartedAt: &d.mnow, TotalReplicas: want.Replicas,
			Failures: []status.Failure{{Index: -1, Error: err.Error(), Timestamp: d.mnow, Reason: "PrecheckFailed"}},
			Message:  "refused by precheck: " + err.Error(),
			Retired:  retired,
		}
		d.us = st.UpgradeStatus
		d.event(ReasonUpgradeFailed, -1, true, "upgrade %s -> %s refused: %v", from, to, err)
		return
	}
	st.Phase = status.PhaseUpgrading
	st.TargetVersion = to
	st.UpgradeStatus = &status.UpgradeStatus{
		Phase: status.UpgradeInProgress, FromVersion: from, ToVersion: to,
		StartedAt: &d.mnow, TotalReplicas: want.Replicas,
		Partition: d.part, Retired: retired,
	}
	d.us = st.UpgradeStatus
	d.event(ReasonUpgradeStarted, -1, false, "upgrade %s -> %s started (%d replicas, partition %d, maxSurge %d, maxUnavailable %d)", from, to, want.Replicas, d.part, d.surge, d.unav)
}

// retarget moves the attempt in flight to a new desired version.
func (u *Upgrader) retarget(ctx context.Context, d *decider) {
	st, us, want := d.st, d.us, d.want
	if err := u.runPrechecks(ctx, us.FromVersion, want.Version); err != nil {
		st.Phase = status.PhaseFailed
		us.Phase = status.UpgradeFailed
		us.Failures = append(us.Failures, status.Failure{Index: -1, Error: err.Error(), Timestamp: d.mnow, Reason: "PrecheckFailed"})
		us.ToVersion = want.Version
		st.TargetVersion = want.Version
		d.event(ReasonUpgradeFailed, -1, true, "upgrade %s -> %s refused: %v", us.FromVersion, want.Version, err)
		return
	}
	old := us.ToVersion
	us.ToVersion = want.Version
	us.Phase = status.UpgradeInProgress
	us.Pods = keepCreating(us.Pods)
	st.TargetVersion = want.Version
	st.Phase = status.PhaseUpgrading
	d.event(ReasonUpgradeStarted, -1, false, "upgrade retargeted from %s to %s (from %s)", old, want.Version, us.FromVersion)
}

func (u *Upgrader) runPrechecks(ctx context.Context, from, to string) error {
	for i, p := range u.prechecks {
		if err := p.Check(ctx, from, to); err != nil {
			return fmt.Errorf("precheck %d: %w", i+1, err)
		}
	}
	return nil
}

// emit sends events to the notifier and the log.
func (u *Upgrader) emit(ctx context.Context, events []Event) {
	for _, e := range events {
		if e.Warning {
			u.log.Info("event", "reason", e.Reason, "index", e.Index, "message", e.Message, "warning", true)
		} else {
			u.log.Info("event", "reason", e.Reason, "index", e.Index, "message", e.Message)
		}
		if u.notifier != nil {
			u.notifier.Notify(ctx, e)
		}
	}
}

func (d *decider) result() Result {
	if d.refused {
		return Result{Done: true}
	}
	if d.transition || hasWrites(d.actions) {
		return Result{RequeueAfter: 0}
	}
	us := d.us
	if us == nil || !active(us.Phase) || us.Phase == status.UpgradePaused {
		if d.idleStep() {
			return Result{Done: true}
		}
	}
	if d.requeue < 0 {
		if d.idleStep() {
			return Result{Done: true}
		}
		return Result{RequeueAfter: defaultPoll}
	}
	return Result{RequeueAfter: d.requeue}
}

func hasWrites(as []Action) bool {
	for _, a := range as {
		switch a.Kind {
		case ActionCreate, ActionDelete, ActionFailover, ActionPreCheck, ActionVerify:
			return true
		}
	}
	return false
}

// finish compacts the entries and refreshes the derived fields:
// updatedReplicas, currentIndex, message and conditions.
func (d *decider) finish() {
	us := d.st.UpgradeStatus
	if us != nil && (len(us.Pods) == 0 || &us.Pods[0] != d.cleanAt || len(us.Pods) != d.cleanLen) {
		// One pass drops the unused entries and checks the order.
		kept := us.Pods[:0]
		sorted := true
		for k := range us.Pods {
			i := us.Pods[k].Index
			switch {
			case i < 0:
				continue
			case len(kept) == k: // nothing dropped yet: no copy
				kept = kept[:k+1]
			default:
				kept = append(kept, us.Pods[k])
			}
			if n := len(kept); n > 1 && i < kept[n-2].Index {
				sorted = false
			}
		}
		us.Pods = kept
		if len(us.Pods) == 0 {
			us.Pods = nil
		}
		if !sorted {
			d.own() // sorting writes the entries
			sort.Slice(us.Pods, func(a, b int) bool { return us.Pods[a].Index < us.Pods[b].Index })
		}
	}
	if us != nil {
		if active(us.Phase) {
			d.refreshProgress(us)
		} else {
			us.CurrentIndex = nil
		}
	}
	d.conditions()
}

func (d *decider) refreshProgress(us *status.UpgradeStatus) {
	us.TotalReplicas = d.want.Replicas
	if us.Phase != status.UpgradeRollingBack {
		us.Partition = d.part
	}
	target := us.ToVersion
	if us.Phase == status.UpgradeRollingBack {
		target = us.FromVersion
	}
	var updated int32
	back := target == us.FromVersion
	counted := d.counted
	if back || len(counted) != int(d.want.Replicas) {
		counted = slotFlags(&d.u.scratch.flag, int(d.want.Replicas))
	} else {
		updated = d.updated // the slots steady counted
	}
	if back {
		// Back (or nowhere): every ready pod at the version counts.
		for k := range d.pods {
			p := &d.pods[k]
			if p.Terminating || !p.Ready || counted[p.Index] || p.Version != target {
				continue
			}
			counted[p.Index] = true
			updated++
		}
	}
	// One pass over the entries: forward, a ready pod at the target
	// counts once a Done entry names it as its new pod (verified in this
	// attempt); the slot in flight is the first moving entry in the
	// attempt's order; the oldest moving entry makes the message.
	order := d.u.spec.RollingUpdate.Order
	current := int32(-1)
	var oldest *status.PodProgress
	for k := range us.Pods {
		e := &us.Pods[k]
		switch e.Stage {
		case status.StageDone:
			if back || e.NewUID == "" || e.Index >= 0 && int(e.Index) < len(counted) && counted[e.Index] {
				continue
			}
			pos := d.podOf(e.Index, e.NewUID)
			if pos < 0 {
				continue
			}
			p := &d.pods[pos]
			if p.Terminating || !p.Ready || counted[p.Index] || p.Version != target {
				continue
			}
			counted[p.Index] = true
			updated++
		case status.StageFailed:
		default:
			if current < 0 || lessOrder(order, &slotView{index: e.Index}, &slotView{index: current}) {
				current = e.Index
			}
			if oldest == nil || e.Since.Before(&oldest.Since) {
				oldest = e
			}
		}
	}
	us.UpdatedReplicas = updated
	us.CurrentIndex = nil
	if current >= 0 {
		us.CurrentIndex = &current
	}
	switch {
	case us.Phase == status.UpgradePaused:
	case oldest != nil:
		name := d.podName(oldest.Index)
		msg := fmt.Sprintf("%s (slot %d): %s since %s (%s)", name, oldest.Index, oldest.Stage, oldest.Since.UTC().Format(time.RFC3339), d.now.Sub(oldest.Since.Time).Round(time.Second))
		if oldest.Message != "" {
			msg += ": " + oldest.Message
		}
		us.Message = msg
	case d.blocked != "":
		us.Message = d.blocked
	default:
		us.Message = fmt.Sprintf("%d of %d slots on %s", updated, d.want.Replicas, target)
	}
}

func (d *decider) podName(i int32) string {
	if i >= 0 && int(i) < len(d.obs.slots) {
		// The slot's pod listed last, as the loop below finds it, when
		// the view knows every pod of the slot: none terminating, at most
		// one old (the last pod at the wanted version is always newPod or
		// dupPod).
		s := &d.obs.slots[i]
		if last := max(s.newPod, s.oldPod, s.dupPod); last >= 0 && s.oldCount <= 1 && s.terminating == 0 {
			return "pod " + d.pods[last].Name
		}
	}
	name := ""
	for _, p := range d.pods {
		if p.Index == i && (name == "" || !p.Terminating) {
			name = p.Name
		}
	}
	if name == "" {
		return fmt.Sprintf("slot-%d", i)
	}
	return "pod " + name
}

// conditions maintains Progressing, Available and Degraded.
func (d *decider) conditions() {
	st, us := d.st, d.st.UpgradeStatus
	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: d.mnow})
	}
	// Progressing.
	switch {
	case us == nil:
		set(status.ConditionProgressing, metav1.ConditionFalse, "Idle", "no upgrade has run")
	default:
		msg := us.Message
		if msg == "" && (us.Phase == status.UpgradeInProgress || us.Phase == status.UpgradeRollingBack || us.Phase == status.UpgradePaused) {
			msg = fmt.Sprintf("upgrade %s -> %s", us.FromVersion, us.ToVersion) // used by these phases only
		}
		switch us.Phase {
		case status.UpgradeInProgress:
			set(status.ConditionProgressing, metav1.ConditionTrue, "Upgrading", msg)
		case status.UpgradeRollingBack:
			set(status.ConditionProgressing, metav1.ConditionTrue, "RollingBack", msg)
		case status.UpgradePaused:
			set(status.ConditionProgressing, metav1.ConditionFalse, "Paused", msg)
		case status.UpgradeCompleted:
			set(status.ConditionProgressing, metav1.ConditionFalse, "Completed", d.u.scratch.message(st.Conditions, status.ConditionProgressing, "upgrade ", us.FromVersion, " -> ", us.ToVersion, " completed"))
		case status.UpgradeRolledBack:
			set(status.ConditionProgressing, metav1.ConditionFalse, "RolledBack", fmt.Sprintf("rolled back to %s: %s", us.FromVersion, us.RollbackReason))
		case status.UpgradeFailed:
			reason := "Failed"
			if len(us.Failures) > 0 && us.Failures[len(us.Failures)-1].Reason == "PrecheckFailed" {
				reason = "PrecheckFailed"
			}
			fmsg := "upgrade failed"
			if len(us.Failures) > 0 {
				fmsg = us.Failures[len(us.Failures)-1].Error
			}
			set(status.ConditionProgressing, metav1.ConditionFalse, reason, fmsg)
		}
	}
	// Available: every slot has a ready pod.
	if n := d.want.Replicas; n >= 0 && d.readySlots == n {
		// Observed: every slot has a ready pod (no pass over the slots).
		msg := appendAllReady(d.u.scratch.digits[:0], n)
		set(status.ConditionAvailable, metav1.ConditionTrue, "AllReady", reuseMessage(st.Conditions, status.ConditionAvailable, msg))
		d.u.scratch.digits = msg
	} else if d.want.Replicas >= 0 {
		ready := slotFlags(&d.u.scratch.ready, int(d.want.Replicas))
		if slots := d.obs.slots; len(slots) == len(ready) {
			for i := range slots { // observe found it: a non-terminating pod is ready
				ready[i] = slots[i].ready
			}
		} else {
			for k := range d.pods {
				if p := &d.pods[k]; p.Ready && !p.Terminating && p.Index >= 0 && p.Index < d.want.Replicas {
					ready[p.Index] = true
				}
			}
		}
		const prefix = "slots without a ready pod: "
		msg := append(d.u.scratch.digits[:0], prefix...) // "...: 1, 4, 7"
		for i := int32(0); i < d.want.Replicas; i++ {
			if !ready[i] {
				if len(msg) > len(prefix) {
					msg = append(msg, ", "...)
				}
				msg = appendIndex(msg, i)
			}
		}
		if len(msg) == len(prefix) {
			msg = appendAllReady(msg[:0], d.want.Replicas)
			set(status.ConditionAvailable, metav1.ConditionTrue, "AllReady", reuseMessage(st.Conditions, status.ConditionAvailable, msg))
		} else {
			set(status.ConditionAvailable, metav1.ConditionFalse, "SlotsNotReady", reuseMessage(st.Conditions, status.ConditionAvailable, msg))
		}
		d.u.scratch.digits = msg
	}
	// Degraded: the attempt failed, or a slot failed in it.
	switch {
	case us != nil && us.Phase == status.UpgradeFailed:
		msg := "upgrade failed"
		if n := len(us.Failures); n > 0 {
			msg = us.Failures[n-1].Error
		}
		set(status.ConditionDegraded, metav1.ConditionTrue, "UpgradeFailed", msg)
	case us != nil && us.Phase == status.UpgradeRollingBack:
		set(status.ConditionDegraded, metav1.ConditionTrue, "RollingBack", us.RollbackReason)
	default:
		set(status.ConditionDegraded, metav1.ConditionFalse, "AsExpected", "no failure in the current attempt")
	}
}

// appendAllReady appends "N of N slots ready".
func appendAllReady(b []byte, n int32) []byte {
	b = appendIndex(b, n)
	b = append(b, " of "...)
	b = appendIndex(b, n)
	return append(b, " slots ready"...)
}

// Rollback starts a manual rollback of the attempt in st, whatever the
// rollback policy says; it does not count toward the limit. It is accepted
// when the attempt is InProgress, Paused or Failed, changes only st (the
// next Step moves pods), and sends RollbackStarted.
func (u *Upgrader) Rollback(ctx context.Context, st *status.Status, reason string) error {
	if st == nil || st.UpgradeStatus == nil {
		return fmt.Errorf("upgrade: rollback: no upgrade attempt to roll back")
	}
	switch st.UpgradeStatus.Phase {
	case status.UpgradeInProgress, status.UpgradePaused, status.UpgradeFailed:
	default:
		return fmt.Errorf("upgrade: rollback: upgrade is %s; only InProgress, Paused or Failed can be rolled back", st.UpgradeStatus.Phase)
	}
	if reason == "" {
		reason = "manual rollback"
	}
	d := u.newDecider(st, Desired{Version: st.UpgradeStatus.ToVersion, Replicas: st.UpgradeStatus.TotalReplicas}, nil)
	d.us = st.UpgradeStatus
	d.startRollback(true, reason)
	d.conditions()
	u.emit(ctx, d.events)
	return nil
}

// Retry clears a RolledBack or Failed attempt so that the next Step starts
// a new one toward the desired version. RollbackCount is kept.
func (u *Upgrader) Retry(st *status.Status) error {
	if st == nil || st.UpgradeStatus == nil {
		return fmt.Errorf("upgrade: retry: no upgrade attempt to retry")
	}
	switch st.UpgradeStatus.Phase {
	case status.UpgradeRolledBack, status.UpgradeFailed:
	default:
		return fmt.Errorf("upgrade: retry: upgrade is %s; only RolledBack or Failed can be retried", st.UpgradeStatus.Phase)
	}
	st.UpgradeStatus = nil
	if st.Phase == status.PhaseFailed {
		st.Phase = status.PhaseRunning
	}
	return nil
}

// Run calls Step until it reports Done, waiting on the Upgrader's clock
// between calls (with a fake clock, something else must step it). Driver
// errors are retried; bad input and ctx's end are returned. Each Step's
// status is written to st before the next one.
func (u *Upgrader) Run(ctx context.Context, st *status.Status, want Desired) error {
	var failures int32
	for {
		res, err := u.Step(ctx, st, want)
		if err != nil {
			if res == (Result{}) {
				return err // bad input: Step changed nothing and will not
			}
			failures++
			res.RequeueAfter = retryDelay(failures, time.Second)
			u.log.Error(err, "step failed; retrying", "after", res.RequeueAfter)
		} else {
			failures = 0
		}
		if res.Done {
			return nil
		}
		if res.RequeueAfter <= 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-u.clock.After(res.RequeueAfter):
		}
	}
}
