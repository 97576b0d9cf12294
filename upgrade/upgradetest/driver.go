package upgradetest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/verify"
)

// AnyIndex matches every slot in fault rules (NeverReady, FailPods,
// SetVerifyResult).
const AnyIndex int32 = -1

// podsMemory is how many Pods results a Driver remembers for StalePods.
const podsMemory = 64

// DefaultGroupName is the group name when WithName is not given: pods are
// named "pod-0", "pod-1"...
const DefaultGroupName = "pod"

// Option configures a Driver.
type Option func(*config)

type config struct {
	name          string
	replicas      int32
	version       string
	primary       int32
	startDelay    func(index int32, version string) time.Duration
	termDelay     func(p upgrade.Pod) time.Duration
	failoverDelay time.Duration
	chooser       func(primary upgrade.Pod, candidates []upgrade.Pod) (upgrade.Pod, error)
	dupCreates    bool
	exec          func(t verify.Target, command string) (string, error)
	get           func(t verify.Target, port int32, path string) (int, []byte, error)
	verify        func(t verify.Target) error
	estimate      func(p upgrade.Pod) time.Duration
	maxStale      time.Duration
}

// WithName sets the group name that prefixes pod names (default "pod").
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithReplicas seeds the group with replicas slots, each with one ready pod
// at version named "<group>-<index>", created at the clock's time and
// ready at once, and makes replicas the slot count Create accepts.
// Without it the group is empty and Create refuses every index.
func WithReplicas(replicas int32, version string) Option {
	return func(c *config) { c.replicas, c.version = replicas, version }
}

// WithPrimary makes the seeded pod of slot index the primary (default 0);
// -1 seeds no primary.
func WithPrimary(index int32) Option { return func(c *config) { c.primary = index } }

// WithStartDelay sets how long a pod Create makes takes to become Ready,
// per slot and version (default 0: ready at once). The function is called
// once per pod, at Create. A negative delay means never ready.
func WithStartDelay(f func(index int32, version string) time.Duration) Option {
	return func(c *config) { c.startDelay = f }
}

// WithMaxStaleness bounds how old a list StalePods returns may be on the
// clock: an older one is replaced by the oldest list within d (0: no
// bound). The Upgrader takes a pod it listed before and no longer sees for
// gone once the pod timeout has passed; a cache that lags further behind
// than that is outside what it tolerates.
func WithMaxStaleness(d time.Duration) Option { return func(c *config) { c.maxStale = d } }

// WithEstimate makes Pods report f(pod) as each pod's Estimate (the
// LongestFirst order reads it); f sees the pod as listed, Estimate 0.
func WithEstimate(f func(p upgrade.Pod) time.Duration) Option {
	return func(c *config) { c.estimate = f }
}

// WithTerminationDelay sets how long a deleted pod stays listed as
// Terminating before it is gone (default 0: gone at once). The function is
// called once per pod, at Delete, with the pod as it was. A negative delay
// means the pod stays terminating until Remove.
func WithTerminationDelay(f func(p upgrade.Pod) time.Duration) Option {
	return func(c *config) { c.termDelay = f }
}

// WithFailoverDelay sets how long after Failover the role moves (default 0:
// at once).
func WithFailoverDelay(d time.Duration) Option { return func(c *config) { c.failoverDelay = d } }

// WithFailoverChooser replaces how Failover picks the new primary among
// candidates (every other ready, non-terminating pod, ordered by index then
// creation). It must return one of candidates, or an error that Failover
// returns. The default prefers the lowest index outside the primary's slot,
// then a pod of the primary's own slot (a surge pod).
func WithFailoverChooser(f func(primary upgrade.Pod, candidates []upgrade.Pod) (upgrade.Pod, error)) Option {
	return func(c *config) { c.chooser = f }
}

// AllowDuplicateCreates makes Create start a pod even when the slot already
// has a pod at that version that is not terminating, as a driver that
// names pods at random (generateName) would. Such a driver breaks the
// PodDriver rule that Create is idempotent, so an engine that repeats a
// Create it cannot see yet gets two pods: use it to test checkers, or how
// an engine copes with such drivers.
func AllowDuplicateCreates() Option { return func(c *config) { c.dupCreates = true } }

// WithExec sets what Exec returns for a running pod (default: empty output,
// no error).
func WithExec(f func(t verify.Target, command string) (stdout string, err error)) Option {
	return func(c *config) { c.exec = f }
}

// WithGet sets what Get returns for a running pod (default: 200 and "ok").
func WithGet(f func(t verify.Target, port int32, path string) (statusCode int, body []byte, err error)) Option {
	return func(c *config) { c.get = f }
}

// WithVerify sets the result of the Verifier's checks where no
// SetVerifyResult rule matches (default: pass).
func WithVerify(f func(t verify.Target) error) Option { return func(c *config) { c.verify = f } }

// Driver is an in-memory upgrade.PodDriver whose time is a fake clock. It
// also implements upgrade.Failoverer and verify.PodAccess.
//
// Nothing happens in the background: readiness, termination and failover
// complete when the clock says so, evaluated whenever the driver is asked.
// Step the clock to let time pass. Every call is recorded (Actions), and
// faults can be injected into every call (see CallFault, Reactor and the
// fault methods). A Driver is safe for concurrent use.
//
// Pod names: the pod a non-surge Create makes for slot i is "<group>-<i>";
// the name can't be taken while an older pod of that name is still listed
// (Create returns *AlreadyExistsError). Create is idempotent, as the
// PodDriver contract asks: it starts nothing, and returns
// *AlreadyExistsError, when the slot already has a pod at the version that
// is not terminating (see AllowDuplicateCreates). A surge Create names its pod
// "<group>-<i>-surge-<n>", n counting the slot's surge pods from 1, so a
// surge pod may stay the slot's only pod and the next transition of the
// slot still gets a free name. UIDs are "uid-1", "uid-2"... in creation
// order.
type Driver struct {
	clock *clocktesting.FakeClock
	cfg   config

	mu          sync.Mutex
	st          state
	history     []snapshot      // for SetLag
	podsHistory [][]upgrade.Pod // what each Pods call would return, for StalePods
	podsAt      []time.Time     // when, per podsHistory entry
	calls       map[ActionKind]int
	faults      []activeFault
	rules       []readyRule
	verifyRules []verifyRule
	staleAgo    int
	staleLeft   int
	lag         time.Duration
	reactors    []reactorEntry
	actions     []Action
	seq         int
	uidSeq      int
	surgeSeq    map[int32]int
	noFailover  bool
}

type state struct {
	pods       []podState
	primaryUID string
	failover   *pendingFailover
}

type podState struct {
	pod        upgrade.Pod // Index, Name, Version, Created, UID
	seeded     bool
	readyDelay time.Duration // negative: never
	deleted    bool
	deletedAt  time.Time
	goneAt     time.Time // zero with deleted: stays until Remove
	overrides  []readyOverride
}

type readyOverride struct {
	at    time.Time
	ready bool
}

type pendingFailover struct {
	from, to string
	at       time.Time
}

type snapshot struct {
	at time.Time
	st state
}

type activeFault struct {
	kind        ActionKind
	from, to    int // call numbers; to < 0: unbounded
	err         error
	afterEffect bool
}

type readyRule struct {
	index   int32
	version string
	since   time.Time
	never   bool
	reason  string
	after   time.Duration
}

type verifyRule struct {
	index   int32
	version string
	err     error
}

type reactorEntry struct {
	kind ActionKind
	fn   Reactor
}

// NewDriver returns a driver whose time is clock (nil: a new fake clock set
// to 2025-01-01T00:00:00Z), seeded as the options say.
func NewDriver(clock *clocktesting.FakeClock, opts ...Option) *Driver {
	if clock == nil {
		clock = clocktesting.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	}
	cfg := config{name: DefaultGroupName}
	for _, o := range opts {
		o(&cfg)
	}
	d := &Driver{clock: clock, cfg: cfg, calls: map[ActionKind]int{}, surgeSeq: map[int32]int{}}
	now := clock.Now()
	for i := range cfg.replicas {
		uid := d.newUID()
		d.st.pods = append(d.st.pods, podState{
			pod:    upgrade.Pod{Index: i, Name: d.stableName(i), Version: cfg.version, Created: now, UID: uid},
			seeded: true,
		})
		if i == cfg.primary {
			d.st.primaryUID = uid
		}
	}
	d.snap(now)
	return d
}

// Clock returns the driver's fake clock.
func (d *Driver) Clock() *clocktesting.FakeClock { return d.clock }

// Name returns the group name that prefixes pod names.
func (d *Driver) Name() string { return d.cfg.name }

// Replicas returns the number of slots Create accepts (0..Replicas-1).
func (d *Driver) Replicas() int32 { return d.cfg.replicas }

func (d *Driver) stableName(i int32) string { return fmt.Sprintf("%s-%d", d.cfg.name, i) }

func (d *Driver) newUID() string {
	d.uidSeq++
	return fmt.Sprintf("uid-%d", d.uidSeq)
}

// ---- evaluation (callers hold d.mu) ----

func present(ps *podState, t time.Time) bool {
	return !ps.deleted || ps.goneAt.IsZero() || t.Before(ps.goneAt)
}

func (d *Driver) ruleApplies(r readyRule, p upgrade.Pod) bool {
	return (r.index == AnyIndex || r.index == p.Index) &&
		(r.version == "" || r.version == p.Version) &&
		!p.Created.Before(r.since)
}

// evalPod returns the pod as it is at t, primary role aside.
func (d *Driver) evalPod(ps *podState, t time.Time) upgrade.Pod {
	p := ps.pod
	p.Terminating = ps.deleted && !t.Before(ps.deletedAt)
	ready := ps.seeded || (ps.readyDelay >= 0 && !t.Before(p.Created.Add(ps.readyDelay)))
	for _, r := range d.rules {
		if !d.ruleApplies(r, p) {
			continue
		}
		if r.never {
			ready = false
		}
		if r.reason != "" && !t.Before(p.Created.Add(r.after)) && p.Failed == "" {
			p.Failed = r.reason
		}
	}
	var last *readyOverride
	for i := range ps.overrides {
		o := &ps.overrides[i]
		if !t.Before(o.at) && (last == nil || !o.at.Before(last.at)) {
			last = o
		}
	}
	if last != nil {
		ready = last.ready
	}
	p.Ready = ready && p.Failed == "" && !p.Terminating
	if d.cfg.estimate != nil {
		p.Estimate = d.cfg.estimate(p)
	}
	return p
}

// primaryAt returns the UID holding the primary role at t.
func (d *Driver) primaryAt(st *state, t time.Time) string {
	uid := st.primaryUID
	if f := st.failover; f != nil && !t.Before(f.at) && d.failoverValid(st, f) {
		uid = f.to
	}
	return uid
}

// failoverValid reports whether f can complete at f.at: the old primary
// still exists and the new one exists, ready and not terminating.
func (d *Driver) failoverValid(st *state, f *pendingFailover) bool {
	if st.primaryUID != f.from {
		return false
	}
	var fromOK, toOK bool
	for i := range st.pods {
		ps := &st.pods[i]
		if !present(ps, f.at) {
			continue
		}
		switch ps.pod.UID {
		case f.from:
			fromOK = true
		case f.to:
			p := d.evalPod(ps, f.at)
			toOK = p.Ready && !p.Terminating
		}
	}
	return fromOK && toOK
}

// eval lists the pods of st as they are at t, ordered by index, creation
// and name.
func (d *Driver) eval(st *state, t time.Time) []upgrade.Pod {
	primary := d.primaryAt(st, t)
	pods := make([]upgrade.Pod, 0, len(st.pods))
	for i := range st.pods {
		ps := &st.pods[i]
		if !present(ps, t) {
			continue
		}
		p := d.evalPod(ps, t)
		p.Primary = p.UID == primary
		pods = append(pods, p)
	}
	sortPods(pods)
	return pods
}

func sortPods(pods []upgrade.Pod) {
	slices.SortStableFunc(pods, func(a, b upgrade.Pod) int {
		return cmp.Or(cmp.Compare(a.Index, b.Index), a.Created.Compare(b.Created), cmp.Compare(a.Name, b.Name))
	})
}

// settle applies what is due at now to the truth: a due failover, and
// dropping pods that are gone. It changes nothing eval would show.
func (d *Driver) settle(now time.Time) {
	if f := d.st.failover; f != nil && !now.Before(f.at) {
		if d.failoverValid(&d.st, f) {
			d.st.primaryUID = f.to
		}
		d.st.failover = nil
	}
	kept := d.st.pods[:0]
	primaryKept := false
	for _, ps := range d.st.pods {
		if present(&ps, now) {
			kept = append(kept, ps)
			primaryKept = primaryKept || ps.pod.UID == d.st.primaryUID
		}
	}
	clear(d.st.pods[len(kept):])
	d.st.pods = kept
	if !primaryKept {
		d.st.primaryUID = ""
	}
}

func (s *state) clone() state {
	c := state{primaryUID: s.primaryUID, pods: make([]podState, len(s.pods))}
	for i, ps := range s.pods {
		ps.overrides = slices.Clone(ps.overrides)
		c.pods[i] = ps
	}
	if s.failover != nil {
		f := *s.failover
		c.failover = &f
	}
	return c
}

// snap records the truth after a change, for SetLag, and forgets what no
// lagged view can reach any more.
func (d *Driver) snap(now time.Time) {
	d.history = append(d.history, snapshot{at: now, st: d.st.clone()})
	horizon := now.Add(-d.lag)
	keep := 0
	for i, s := range d.history {
		if !s.at.After(horizon) {
			keep = i
		}
	}
	if keep > 0 {
		d.history = slices.Delete(d.history, 0, keep)
	}
}

// view is what Pods shows at now before StalePods: the truth, or the truth
// of lag ago.
func (d *Driver) view(now time.Time) []upgrade.Pod {
	if d.lag <= 0 {
		return d.eval(&d.st, now)
	}
	t := now.Add(-d.lag)
	s := &d.history[0]
	for i := range d.history {
		if !d.history[i].at.After(t) {
			s = &d.history[i]
		}
	}
	return d.eval(&s.st, t)
}

func (d *Driver) find(t time.Time, match func(*podState) bool) *podState {
	for i := range d.st.pods {
		ps := &d.st.pods[i]
		if present(ps, t) && match(ps) {
			return ps
		}
	}
	return nil
}

func (d *Driver) byName(t time.Time, name string) *podState {
	return d.find(t, func(ps *podState) bool { return ps.pod.Name == name })
}

func (d *Driver) byUID(t time.Time, uid string) *podState {
	return d.find(t, func(ps *podState) bool { return ps.pod.UID == uid })
}

// ---- the call machinery ----

func (d *Driver) faultFor(kind ActionKind, n, any int) *activeFault {
	for i := range d.faults {
		f := &d.faults[i]
		c := n
		if f.kind == AnyAction {
			c = any
		} else if f.kind != kind {
			continue
		}
		if c >= f.from && (f.to < 0 || c <= f.to) {
			return f
		}
	}
	return nil
}

// call runs one driver call: counting, faults, reactors, the effect under
// the lock, and the record. effect fills a (Effective, Pod, UID...) and
// returns the call's error.
func (d *Driver) call(ctx context.Context, a Action, mutating bool, effect func(now time.Time, a *Action) error) Action {
	d.mu.Lock()
	now := d.clock.Now()
	d.settle(now)
	d.calls[a.Kind]++
	d.calls[AnyAction]++
	a.Call = d.calls[a.Kind]
	a.Time = now
	var injected error
	afterEffect := false
	if f := d.faultFor(a.Kind, a.Call, d.calls[AnyAction]); f != nil {
		injected = &InjectedError{Kind: a.Kind, Call: a.Call, AfterEffect: f.afterEffect, Err: f.err}
		afterEffect = f.afterEffect
	}
	reactors := slices.Clone(d.reactors)
	d.mu.Unlock()

	if err := ctx.Err(); err != nil {
		a.Err = fmt.Errorf("upgradetest: %s: %w", a.Kind, err)
		return d.record(a)
	}
	for _, r := range reactors {
		if r.kind != AnyAction && r.kind != a.Kind {
			continue
		}
		if handled, err := r.fn(a); handled {
			a.Handled, a.Err = true, err
			return d.record(a)
		}
	}

	d.mu.Lock()
	now = d.clock.Now()
	d.settle(now)
	a.Time = now
	if injected != nil && !afterEffect {
		a.Err = injected
		d.mu.Unlock()
		return d.record(a)
	}
	if mutating {
		a.Before = d.eval(&d.st, now)
	}
	err := effect(now, &a)
	if mutating {
		a.After = d.eval(&d.st, now)
		if a.Effective {
			d.snap(now)
		}
	}
	if err == nil {
		err = injected
	}
	a.Err = err
	d.mu.Unlock()
	return d.record(a)
}

func (d *Driver) record(a Action) Action {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	a.Seq = d.seq
	d.actions = append(d.actions, a)
	return a
}

// ---- upgrade.PodDriver ----

// Pods lists the group's pods, terminating ones included, ordered by index
// and creation. Without faults it is the truth at the clock's time; SetLag
// and StalePods make it show an older state, and faults make it fail.
func (d *Driver) Pods(ctx context.Context) ([]upgrade.Pod, error) {
	a := d.call(ctx, Action{Kind: ActionPods, Index: -1}, false, func(now time.Time, a *Action) error {
		v := d.view(now)
		d.podsHistory = append(d.podsHistory, v)
		d.podsAt = append(d.podsAt, now)
		if d.staleLeft > 0 {
			d.staleLeft--
			i := max(len(d.podsHistory)-1-d.staleAgo, 0)
			for d.cfg.maxStale > 0 && now.Sub(d.podsAt[i]) > d.cfg.maxStale {
				i++ // too old: the oldest list within the bound
			}
			v = d.podsHistory[i]
		}
		if n := len(d.podsHistory) - max(d.staleAgo+1, podsMemory); n > 0 {
			d.podsHistory = slices.Delete(d.podsHistory, 0, n)
			d.podsAt = slices.Delete(d.podsAt, 0, n)
		}
		a.Returned = slices.Clone(v)
		return nil
	})
	if a.Err != nil {
		return nil, a.Err
	}
	return slices.Clone(a.Returned), nil
}

// Create makes a pod for slot index at version, not ready until its start
// delay has passed (WithStartDelay), and never ready if a NeverReady or
// FailPods rule says so. It returns an error naming the pod, and creates
// nothing, when index is outside 0..Replicas-1, version is empty, the slot
// already has a pod at version that is not terminating (unless
// AllowDuplicateCreates), or (without surge) the slot's stable name is
// still held by a listed pod.
func (d *Driver) Create(ctx context.Context, index int32, version string, surge bool) error {
	a := d.call(ctx, Action{Kind: ActionCreate, Index: index, Version: version, Surge: surge}, true, func(now time.Time, a *Action) error {
		if index < 0 || index >= d.cfg.replicas {
			return fmt.Errorf("upgradetest: create pod for slot %d at %q: index out of range [0, %d)", index, version, d.cfg.replicas)
		}
		if version == "" {
			return fmt.Errorf("upgradetest: create pod for slot %d: empty version", index)
		}
		if !d.cfg.dupCreates {
			if held := d.find(now, func(ps *podState) bool {
				return ps.pod.Index == index && ps.pod.Version == version && !ps.deleted
			}); held != nil {
				a.Pod = held.pod.Name
				return &AlreadyExistsError{Name: held.pod.Name, UID: held.pod.UID}
			}
		}
		name := d.stableName(index)
		if surge {
			d.surgeSeq[index]++
			name = fmt.Sprintf("%s-%d-surge-%d", d.cfg.name, index, d.surgeSeq[index])
		}
		if old := d.byName(now, name); old != nil {
			a.Pod = name
			return &AlreadyExistsError{Name: name, UID: old.pod.UID, Terminating: old.deleted}
		}
		delay := time.Duration(0)
		if d.cfg.startDelay != nil {
			delay = d.cfg.startDelay(index, version)
		}
		uid := d.newUID()
		d.st.pods = append(d.st.pods, podState{
			pod:        upgrade.Pod{Index: index, Name: name, Version: version, Created: now, UID: uid},
			readyDelay: delay,
		})
		a.Pod, a.UID, a.Effective = name, uid, true
		return nil
	})
	return a.Err
}

// Delete moves the pod to Terminating (not ready; still listed until its
// termination delay has passed, see WithTerminationDelay). The pod is
// found by UID: a pod already terminating or gone is not an error; a pod
// named pod.Name whose UID is not pod.UID is left alone and Delete returns
// *ConflictError; an empty UID is refused (an engine must always delete
// with a precondition).
func (d *Driver) Delete(ctx context.Context, pod upgrade.Pod) error {
	a := d.call(ctx, Action{Kind: ActionDelete, Index: pod.Index, Version: pod.Version, Pod: pod.Name, UID: pod.UID}, true, func(now time.Time, a *Action) error {
		ps, err := d.lookup(now, "delete", pod)
		if err != nil || ps == nil {
			return err
		}
		a.Index, a.Version, a.Pod = ps.pod.Index, ps.pod.Version, ps.pod.Name
		if ps.deleted {
			return nil
		}
		delay := time.Duration(0)
		if d.cfg.termDelay != nil {
			p := d.evalPod(ps, now)
			p.Primary = p.UID == d.primaryAt(&d.st, now)
			delay = d.cfg.termDelay(p)
		}
		ps.deleted, ps.deletedAt = true, now
		if delay >= 0 {
			ps.goneAt = now.Add(delay)
		}
		a.Effective = true
		return nil
	})
	return a.Err
}

// lookup finds the pod addressed by p (by UID, name as a cross-check): nil
// with no error when it is gone.
func (d *Driver) lookup(now time.Time, op string, p upgrade.Pod) (*podState, error) {
	if p.UID == "" {
		return nil, fmt.Errorf("upgradetest: %s pod %q: no UID given; refusing to act without a UID precondition", op, p.Name)
	}
	if ps := d.byUID(now, p.UID); ps != nil {
		if p.Name != "" && ps.pod.Name != p.Name {
			return nil, fmt.Errorf("upgradetest: %s pod %q: UID %q belongs to pod %q", op, p.Name, p.UID, ps.pod.Name)
		}
		return ps, nil
	}
	if p.Name != "" {
		if cur := d.byName(now, p.Name); cur != nil {
			return nil, &ConflictError{Op: op, Name: p.Name, UID: p.UID, CurrentUID: cur.pod.UID}
		}
	}
	return nil, nil
}

// Failover starts moving the primary role from primary to another ready,
// non-terminating pod chosen by WithFailoverChooser (default: the lowest
// other slot, else a surge pod of the same slot); the role moves after the
// failover delay, provided both pods still exist then and the new one is
// still ready. A pod that is gone, not primary, or already being failed
// over is not an error (nothing is done); a stale UID gives *ConflictError;
// no candidate gives an error.
func (d *Driver) Failover(ctx context.Context, primary upgrade.Pod) error {
	a := d.call(ctx, Action{Kind: ActionFailover, Index: primary.Index, Version: primary.Version, Pod: primary.Name, UID: primary.UID}, true, func(now time.Time, a *Action) error {
		ps, err := d.lookup(now, "failover", primary)
		if err != nil || ps == nil {
			return err
		}
		a.Index, a.Version, a.Pod = ps.pod.Index, ps.pod.Version, ps.pod.Name
		if d.primaryAt(&d.st, now) != ps.pod.UID {
			return nil
		}
		if f := d.st.failover; f != nil && f.from == ps.pod.UID {
			return nil
		}
		from := d.evalPod(ps, now)
		from.Primary = true
		var cands []upgrade.Pod
		for _, p := range d.eval(&d.st, now) {
			if p.UID != from.UID && p.Ready && !p.Terminating {
				cands = append(cands, p)
			}
		}
		if len(cands) == 0 {
			return fmt.Errorf("upgradetest: failover pod %q: no other ready pod to take the primary role", from.Name)
		}
		var to upgrade.Pod
		if d.cfg.chooser != nil {
			to, err = d.cfg.chooser(from, slices.Clone(cands))
			if err != nil {
				return fmt.Errorf("upgradetest: failover pod %q: %w", from.Name, err)
			}
			if !slices.ContainsFunc(cands, func(p upgrade.Pod) bool { return p.UID == to.UID }) {
				return fmt.Errorf("upgradetest: failover pod %q: chooser picked %q (%s), not a candidate", from.Name, to.Name, to.UID)
			}
		} else {
			to = cands[0]
			if i := slices.IndexFunc(cands, func(p upgrade.Pod) bool { return p.Index != from.Index }); i >= 0 {
				to = cands[i]
			}
		}
		d.st.failover = &pendingFailover{from: from.UID, to: to.UID, at: now.Add(d.cfg.failoverDelay)}
		a.Effective = true
		return nil
	})
	return a.Err
}

// ---- verify.PodAccess ----

// runningLocked returns the target pod as it is now when it exists, is not
// terminating and has not failed. The caller holds d.mu.
func (d *Driver) runningLocked(now time.Time, op string, t verify.Target) (verify.Target, error) {
	ps := d.byName(now, t.Name)
	if ps == nil {
		return t, fmt.Errorf("upgradetest: %s pod %q: pod not found", op, t.Name)
	}
	p := d.evalPod(ps, now)
	if p.Terminating {
		return t, fmt.Errorf("upgradetest: %s pod %q: pod is terminating", op, t.Name)
	}
	if p.Failed != "" {
		return t, fmt.Errorf("upgradetest: %s pod %q: container not running: %s", op, t.Name, p.Failed)
	}
	return p.Target(), nil
}

// unlocked runs f without d.mu (user functions may call the driver).
func (d *Driver) unlocked(f func()) {
	d.mu.Unlock()
	defer d.mu.Lock()
	f()
}

// Exec runs the WithExec function for the named pod (default: empty output,
// no error). It fails, naming the pod, when the pod is missing, terminating
// or failed.
func (d *Driver) Exec(ctx context.Context, t verify.Target, command string) (string, error) {
	var out string
	a := d.call(ctx, Action{Kind: ActionExec, Index: t.Index, Version: t.Version, Pod: t.Name, Command: command}, false, func(now time.Time, a *Action) error {
		cur, err := d.runningLocked(now, "exec in", t)
		if err != nil || d.cfg.exec == nil {
			return err
		}
		d.unlocked(func() { out, err = d.cfg.exec(cur, command) })
		if err != nil {
			return fmt.Errorf("upgradetest: exec %q in pod %q: %w", command, t.Name, err)
		}
		return nil
	})
	if a.Err != nil {
		return "", a.Err
	}
	return out, nil
}

// Get runs the WithGet function for the named pod (default: 200, "ok"). It
// fails, naming the pod, when the pod is missing, terminating or failed.
func (d *Driver) Get(ctx context.Context, t verify.Target, port int32, path string) (int, []byte, error) {
	code, body := 200, []byte("ok")
	a := d.call(ctx, Action{Kind: ActionGet, Index: t.Index, Version: t.Version, Pod: t.Name, Port: port, Path: path}, false, func(now time.Time, a *Action) error {
		cur, err := d.runningLocked(now, "get from", t)
		if err != nil || d.cfg.get == nil {
			return err
		}
		d.unlocked(func() { code, body, err = d.cfg.get(cur, port, path) })
		if err != nil {
			return fmt.Errorf("upgradetest: get :%d%s from pod %q: %w", port, path, t.Name, err)
		}
		return nil
	})
	if a.Err != nil {
		return 0, nil, a.Err
	}
	return code, body, nil
}

// Verifier returns a verify.Verifier whose result for a target is the last
// SetVerifyResult rule matching its slot and version, else the WithVerify
// function, else a pass. Its calls are recorded as ActionVerify and take
// CallFaults and reactors like every other call; it does not look at the
// pods. Pass it to upgrade.WithPostUpgradeVerifier or WithPreUpgradeCheck.
func (d *Driver) Verifier() verify.Verifier {
	return verify.Func(func(ctx context.Context, t verify.Target) error {
		a := d.call(ctx, Action{Kind: ActionVerify, Index: t.Index, Version: t.Version, Pod: t.Name}, false, func(_ time.Time, a *Action) error {
			for _, r := range slices.Backward(d.verifyRules) {
				if (r.index == AnyIndex || r.index == t.Index) && (r.version == "" || r.version == t.Version) {
					return r.err
				}
			}
			if d.cfg.verify == nil {
				return nil
			}
			var err error
			d.unlocked(func() { err = d.cfg.verify(t) })
			return err
		})
		return a.Err
	})
}
