package upgradetest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/verify"
)

// ---- call faults and reactors ----

// InjectFault makes calls fail as f says. Faults are checked in the order
// they were injected; the first that matches a call decides it.
func (d *Driver) InjectFault(f CallFault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	kind := f.Kind
	if kind == "" {
		kind = AnyAction
	}
	from := f.Nth
	if from <= 0 {
		from = d.calls[kind] + 1
	}
	to := -1
	switch {
	case f.Times == 0:
		to = from
	case f.Times > 0:
		to = from + f.Times - 1
	}
	d.faults = append(d.faults, activeFault{kind: kind, from: from, to: to, err: f.Err, afterEffect: f.AfterEffect})
}

// FailNext makes the next call of kind return err (wrapped in an
// *InjectedError) without any effect.
func (d *Driver) FailNext(kind ActionKind, err error) {
	d.InjectFault(CallFault{Kind: kind, Err: err})
}

// FailNth makes the nth call of kind since the Driver was built (see
// Action.Call) return err (wrapped in an *InjectedError) without any effect.
func (d *Driver) FailNth(kind ActionKind, n int, err error) {
	d.InjectFault(CallFault{Kind: kind, Nth: max(n, 1), Err: err})
}

// PrependReactor puts r first in the chain of reactors that see calls of
// kind (AnyAction: every call) before the driver acts.
func (d *Driver) PrependReactor(kind ActionKind, r Reactor) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reactors = slices.Insert(d.reactors, 0, reactorEntry{kind: kind, fn: r})
}

// AppendReactor puts r last in the chain of reactors that see calls of kind
// (AnyAction: every call) before the driver acts.
func (d *Driver) AppendReactor(kind ActionKind, r Reactor) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reactors = append(d.reactors, reactorEntry{kind: kind, fn: r})
}

// ---- pod faults ----

// NeverReady makes every pod created from now on for slot index (AnyIndex:
// any) at version ("": any) never become ready (stuck Pending, or failing
// its readiness probe) without a Failed reason, so only a timeout catches
// it. Pods that exist already are not affected.
func (d *Driver) NeverReady(index int32, version string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rules = append(d.rules, readyRule{index: index, version: version, since: d.clock.Now(), never: true})
}

// FailPods makes every pod created from now on for slot index (AnyIndex:
// any) at version ("": any) show Failed=reason ("ImagePullBackOff",
// "CrashLoopBackOff"...) from after its creation on, and not be ready from
// then on (it may be ready before, if its start delay is shorter). Pods that
// exist already are not affected.
func (d *Driver) FailPods(index int32, version, reason string, after time.Duration) {
	if reason == "" {
		reason = "Failed"
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rules = append(d.rules, readyRule{index: index, version: version, since: d.clock.Now(), reason: reason, after: after})
}

// SetReadyAt overrides the readiness of the current pod named name from at
// on (at may be in the past or the future): a pod may go unready on its own
// (a crash) or come back. A later override wins over an earlier one; a
// Failed reason, termination and removal still make the pod not ready. It
// returns an error when no pod has that name.
func (d *Driver) SetReadyAt(name string, ready bool, at time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	d.settle(now)
	ps := d.byName(now, name)
	if ps == nil {
		return fmt.Errorf("upgradetest: set ready=%t on pod %q: pod not found", ready, name)
	}
	ps.overrides = append(ps.overrides, readyOverride{at: at, ready: ready})
	d.snap(now)
	return nil
}

// SetReady overrides the readiness of the current pod named name from now
// on (see SetReadyAt).
func (d *Driver) SetReady(name string, ready bool) error {
	return d.SetReadyAt(name, ready, d.clock.Now())
}

// Kill makes the pod named name not ready from now on, as a crash would;
// the pod stays listed and keeps its role. SetReady(name, true) revives it.
func (d *Driver) Kill(name string) error { return d.SetReadyAt(name, false, d.clock.Now()) }

// Remove makes the pod named name vanish at once, terminating or not, as
// when its node is lost; a primary's role is lost with it. It returns an
// error when no pod has that name.
func (d *Driver) Remove(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	d.settle(now)
	ps := d.byName(now, name)
	if ps == nil {
		return fmt.Errorf("upgradetest: remove pod %q: pod not found", name)
	}
	if !ps.deleted {
		ps.deleted, ps.deletedAt = true, now
	}
	ps.goneAt = now
	d.settle(now)
	d.snap(now)
	return nil
}

// SetPrimary gives the primary role to the pod named name at once,
// cancelling a failover in progress. An empty name leaves the group without
// a primary. It returns an error when no pod has that name.
func (d *Driver) SetPrimary(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	d.settle(now)
	uid := ""
	if name != "" {
		ps := d.byName(now, name)
		if ps == nil {
			return fmt.Errorf("upgradetest: set primary %q: pod not found", name)
		}
		uid = ps.pod.UID
	}
	d.st.primaryUID, d.st.failover = uid, nil
	d.snap(now)
	return nil
}

// ---- view faults ----

// StalePods makes each of the next times calls to Pods return what Pods
// returned ago calls before it (the oldest call remembered, if there were
// fewer): a cache that does not show the driver's latest writes yet. Each
// call is still counted, so with ago 1 the view trails the truth by one
// call for times calls.
func (d *Driver) StalePods(ago, times int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.staleAgo, d.staleLeft = max(ago, 0), max(times, 0)
}

// SetLag makes Pods show the group as it was lag ago on the clock (an
// informer cache that trails the writes), until set back to 0. The view
// cannot reach back before SetLag was called: earlier than that it shows
// the oldest state remembered.
func (d *Driver) SetLag(lag time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lag = max(lag, 0)
}

// SetVerifyResult makes the Verifier return err (nil: pass) for slot index
// (AnyIndex: any) at version ("": any). The latest matching rule wins. To
// model a check that ran and did not pass, give an error wrapping
// *verify.FailedError; any other error is a check that could not run (see
// verify.Classify).
func (d *Driver) SetVerifyResult(index int32, version string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.verifyRules = append(d.verifyRules, verifyRule{index: index, version: version, err: err})
}

// ClearFaults removes every call fault, NeverReady and FailPods rule,
// StalePods, lag and SetVerifyResult rule. Reactors, readiness overrides
// (Kill, SetReady) and the action log stay.
func (d *Driver) ClearFaults() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults, d.rules, d.verifyRules = nil, nil, nil
	d.staleAgo, d.staleLeft, d.lag = 0, 0, 0
}

// WithoutFailover returns the driver seen without its Failover method: it
// implements upgrade.PodDriver and verify.PodAccess but not
// upgrade.Failoverer, for engines that must cope with drivers that cannot
// move the primary role. From then on CanFailover reports false, so a
// Checker no longer requires failovers before a primary is deleted (S5).
func (d *Driver) WithoutFailover() upgrade.PodDriver {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.noFailover = true
	return noFailover{d: d}
}

// CanFailover reports whether the engine may fail over through this driver:
// true unless WithoutFailover was called.
func (d *Driver) CanFailover() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.noFailover
}

type noFailover struct{ d *Driver }

func (n noFailover) Pods(ctx context.Context) ([]upgrade.Pod, error) { return n.d.Pods(ctx) }
func (n noFailover) Create(ctx context.Context, index int32, version string, surge bool) error {
	return n.d.Create(ctx, index, version, surge)
}
func (n noFailover) Delete(ctx context.Context, pod upgrade.Pod) error { return n.d.Delete(ctx, pod) }
func (n noFailover) Exec(ctx context.Context, t verify.Target, command string) (string, error) {
	return n.d.Exec(ctx, t, command)
}
func (n noFailover) Get(ctx context.Context, t verify.Target, port int32, path string) (int, []byte, error) {
	return n.d.Get(ctx, t, port, path)
}

// ---- inspection ----

// Truth lists the pods as they are now, ignoring lag, staleness and call
// faults; it is not recorded as an action.
func (d *Driver) Truth() []upgrade.Pod {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	d.settle(now)
	return d.eval(&d.st, now)
}

// Pod returns the pod named name as it is now, and whether it exists.
func (d *Driver) Pod(name string) (upgrade.Pod, bool) {
	for _, p := range d.Truth() {
		if p.Name == name {
			return p, true
		}
	}
	return upgrade.Pod{}, false
}

// Versions maps each slot that has a non-terminating pod to the version of
// its newest such pod (a surge pod beside an old one counts), as it is now.
func (d *Driver) Versions() map[int32]string {
	m := map[int32]string{}
	for _, p := range d.Truth() { // ordered by creation within a slot
		if !p.Terminating {
			m[p.Index] = p.Version
		}
	}
	return m
}

// Calls returns how many calls of kind (AnyAction: of every kind) were made
// since the Driver was built.
func (d *Driver) Calls(kind ActionKind) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[kind]
}

// Actions returns a copy of the action log, oldest first.
func (d *Driver) Actions() []Action {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.actions)
}

// ActionsOf returns the recorded calls of kind, oldest first.
func (d *Driver) ActionsOf(kind ActionKind) []Action {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Action
	for _, a := range d.actions {
		if kind == AnyAction || a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// actionsSince returns the recorded actions with Seq > seq.
func (d *Driver) actionsSince(seq int) []Action {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, _ := slices.BinarySearchFunc(d.actions, seq+1, func(a Action, s int) int { return a.Seq - s })
	return slices.Clone(d.actions[i:])
}

// Creates returns the recorded Create calls, oldest first.
func (d *Driver) Creates() []Action { return d.ActionsOf(ActionCreate) }

// Deletes returns the recorded Delete calls, effective or not, oldest first.
func (d *Driver) Deletes() []Action { return d.ActionsOf(ActionDelete) }

// EffectiveDeletes returns the Delete calls that moved a pod to Terminating.
func (d *Driver) EffectiveDeletes() []Action {
	var out []Action
	for _, a := range d.Deletes() {
		if a.Effective {
			out = append(out, a)
		}
	}
	return out
}

// ClearActions empties the action log; Seq and call numbers go on counting.
func (d *Driver) ClearActions() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.actions = nil
}
