package upgradetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/rollgate/rollgate/upgrade"
)

// DefaultAttempts is how many times TestPodDriver polls Pods for a
// condition when Harness.Attempts is 0.
const DefaultAttempts = 100

// Harness tells TestPodDriver about the group it works on and how to let
// time pass, since a driver's pods become ready, terminate and change roles
// asynchronously.
type Harness struct {
	// Replicas is the group's slot count. The group must run, or come to
	// run, one pod per slot at Version.
	Replicas int32
	// Version is what the group runs; NewVersion is a second version the
	// driver can run (distinct from Version).
	Version, NewVersion string
	// Advance lets time pass between two polls of Pods: for Driver, step
	// its fake clock; for a real driver, sleep (time.Sleep of a second...).
	Advance func()
	// Attempts bounds how many times each wait polls Pods before it fails
	// (0: DefaultAttempts).
	Attempts int
}

// TestPodDriver checks that d behaves as upgrade.PodDriver says, in the
// manner of testing/fstest.TestFS. It replaces the pod of the highest slot
// (Replicas-1) and then moves it back, so the group ends as it started, at
// h.Version; d must be used by nothing else meanwhile. The cases run as
// subtests, in order, and stop at the first that fails:
//
//   - Pods: every slot 0..Replicas-1 is listed, eventually with a ready,
//     non-terminating pod at Version; every pod has an index in range, a
//     name, a version and a UID; names and UIDs are distinct.
//   - DeleteStaleUID: a Delete of the slot's pod with a UID that is not its
//     own does not delete it (an error is allowed, not required).
//   - DeleteAndRecreate: Delete succeeds; the pod is then listed as
//     Terminating until it is gone, never as running again; Delete of the
//     terminating and of the gone pod succeeds; a non-surge Create at
//     NewVersion then yields a new pod (new UID, Created set) in that slot,
//     eventually Ready.
//   - Surge: a surge Create at Version keeps the slot's pod running
//     (listed, not terminating, ready) beside the new pod until that is
//     ready; after Delete of the old pod the surge pod is the slot's only
//     pod.
//     (A pod that is gone without ever being listed as Terminating passes:
//     the suite cannot tell a quick deletion or a lagging cache from a
//     driver that never reports Terminating.)
//   - Failover, when d implements upgrade.Failoverer, Replicas >= 2 and a
//     pod holds the primary role (else skipped): Failover succeeds, Pods
//     eventually shows that pod without the role, and never shows two
//     primaries.
//
// A driver author's test reads:
//
//	func TestConformance(t *testing.T) {
//		d := newDriverForAGroupOf3RunningV1(t)
//		upgradetest.TestPodDriver(t, d, upgradetest.Harness{
//			Replicas: 3, Version: "v1", NewVersion: "v2",
//			Advance:  func() { time.Sleep(time.Second) },
//			Attempts: 300,
//		})
//	}
func TestPodDriver(t *testing.T, d upgrade.PodDriver, h Harness) {
	t.Helper()
	s, err := newSuite(t.Context(), d, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range s.cases() {
		ok := t.Run(c.name, func(t *testing.T) {
			s.logf = t.Logf
			err := c.run(s)
			var skip skipError
			switch {
			case errors.As(err, &skip):
				t.Skip(string(skip))
			case err != nil:
				t.Fatal(err)
			}
		})
		if !ok {
			return
		}
	}
}

type skipError string

func (e skipError) Error() string { return string(e) }

type confCase struct {
	name string
	run  func(s *suite) error
}

type suite struct {
	ctx  context.Context
	d    upgrade.PodDriver
	h    Harness
	slot int32
	logf func(format string, args ...any)
}

func newSuite(ctx context.Context, d upgrade.PodDriver, h Harness) (*suite, error) {
	switch {
	case d == nil:
		return nil, errors.New("upgradetest: TestPodDriver: driver is nil")
	case h.Replicas < 1:
		return nil, fmt.Errorf("upgradetest: TestPodDriver: Harness.Replicas is %d, want at least 1", h.Replicas)
	case h.Version == "" || h.NewVersion == "" || h.Version == h.NewVersion:
		return nil, fmt.Errorf("upgradetest: TestPodDriver: Harness.Version %q and NewVersion %q must be set and distinct", h.Version, h.NewVersion)
	case h.Advance == nil:
		return nil, errors.New("upgradetest: TestPodDriver: Harness.Advance is nil")
	}
	if h.Attempts <= 0 {
		h.Attempts = DefaultAttempts
	}
	return &suite{ctx: ctx, d: d, h: h, slot: h.Replicas - 1, logf: func(string, ...any) {}}, nil
}

func (s *suite) cases() []confCase {
	return []confCase{
		{"Pods", (*suite).pods},
		{"DeleteStaleUID", (*suite).deleteStaleUID},
		{"DeleteAndRecreate", (*suite).deleteAndRecreate},
		{"Surge", (*suite).surge},
		{"Failover", (*suite).failover},
	}
}

// run runs every case in order and returns the first failure (skips are
// not failures).
func (s *suite) run() error {
	for _, c := range s.cases() {
		err := c.run(s)
		var skip skipError
		if err != nil && !errors.As(err, &skip) {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return nil
}

// eventually polls Pods until cond holds, calling Advance between polls.
// cond returning an error fails at once; errors from Pods are retried.
func (s *suite) eventually(what string, cond func(pods []upgrade.Pod) (bool, error)) ([]upgrade.Pod, error) {
	var last []upgrade.Pod
	var lastErr error
	for i := range s.h.Attempts {
		if i > 0 {
			s.h.Advance()
		}
		pods, err := s.d.Pods(s.ctx)
		if err != nil {
			lastErr = err
			continue
		}
		last = pods
		ok, err := cond(pods)
		if err != nil {
			return pods, fmt.Errorf("%s: %w; pods: %s", what, err, describe(pods))
		}
		if ok {
			return pods, nil
		}
	}
	msg := fmt.Sprintf("%s: not seen after %d polls of Pods; last pods: %s", what, s.h.Attempts, describe(last))
	if lastErr != nil {
		msg += fmt.Sprintf("; last Pods error: %v", lastErr)
	}
	return last, errors.New(msg)
}

func describe(pods []upgrade.Pod) string {
	if len(pods) == 0 {
		return "none"
	}
	var b []byte
	for i, p := range pods {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = fmt.Appendf(b, "%s[slot %d %s uid=%s", p.Name, p.Index, p.Version, p.UID)
		for _, f := range []struct {
			on   bool
			name string
		}{{p.Ready, " ready"}, {p.Primary, " primary"}, {p.Terminating, " terminating"}, {p.Failed != "", " failed:" + p.Failed}} {
			if f.on {
				b = append(b, f.name...)
			}
		}
		b = append(b, ']')
	}
	return string(b)
}

// slotPods returns the pods of slot i.
func slotPods(pods []upgrade.Pod, i int32) []upgrade.Pod {
	var out []upgrade.Pod
	for _, p := range pods {
		if p.Index == i {
			out = append(out, p)
		}
	}
	return out
}

// steady reports whether every slot has exactly one pod, at version,
// ready and not terminating.
func (s *suite) steady(version string) func([]upgrade.Pod) (bool, error) {
	return func(pods []upgrade.Pod) (bool, error) {
		for i := range s.h.Replicas {
			ps := slotPods(pods, i)
			if len(ps) != 1 || ps[0].Version != version || !ps[0].Ready || ps[0].Terminating {
				return false, nil
			}
		}
		return true, nil
	}
}

func (s *suite) pods() error {
	pods, err := s.eventually(fmt.Sprintf("every slot with one ready pod at %s", s.h.Version), s.steady(s.h.Version))
	if err != nil {
		return err
	}
	uids, names := map[string]string{}, map[string]bool{}
	for _, p := range pods {
		switch {
		case p.Index < 0 || p.Index >= s.h.Replicas:
			return fmt.Errorf("pod %q has index %d, outside 0..%d", p.Name, p.Index, s.h.Replicas-1)
		case p.Name == "":
			return fmt.Errorf("a pod of slot %d has no name", p.Index)
		case p.Version == "":
			return fmt.Errorf("pod %q has no version", p.Name)
		case p.UID == "":
			return fmt.Errorf("pod %q has no UID", p.Name)
		case uids[p.UID] != "":
			return fmt.Errorf("pods %q and %q share UID %q", uids[p.UID], p.Name, p.UID)
		case names[p.Name]:
			return fmt.Errorf("two pods are named %q", p.Name)
		}
		uids[p.UID], names[p.Name] = p.Name, true
	}
	return nil
}

// current returns the slot's only pod.
func (s *suite) current() (upgrade.Pod, error) {
	pods, err := s.d.Pods(s.ctx)
	if err != nil {
		return upgrade.Pod{}, fmt.Errorf("Pods: %w", err)
	}
	ps := slotPods(pods, s.slot)
	if len(ps) != 1 {
		return upgrade.Pod{}, fmt.Errorf("slot %d has %d pods, want 1: %s", s.slot, len(ps), describe(ps))
	}
	return ps[0], nil
}

func (s *suite) deleteStaleUID() error {
	p, err := s.current()
	if err != nil {
		return err
	}
	stale := p
	stale.UID = p.UID + "-stale"
	if err := s.d.Delete(s.ctx, stale); err != nil {
		s.logf("Delete with a stale UID returned: %v", err)
	}
	// Give a wrong deletion time to show.
	for range 3 {
		s.h.Advance()
	}
	pods, err := s.d.Pods(s.ctx)
	if err != nil {
		return fmt.Errorf("Pods: %w", err)
	}
	i := slices.IndexFunc(pods, func(q upgrade.Pod) bool { return q.UID == p.UID })
	if i < 0 || pods[i].Terminating {
		return fmt.Errorf("Delete of pod %q with stale UID %q deleted the current pod %q; pods: %s", p.Name, stale.UID, p.UID, describe(pods))
	}
	return nil
}

func (s *suite) deleteAndRecreate() error {
	old, err := s.current()
	if err != nil {
		return err
	}
	if err := s.d.Delete(s.ctx, old); err != nil {
		return fmt.Errorf("Delete of pod %q (%s): %w", old.Name, old.UID, err)
	}
	seenDown := false // seen terminating or gone
	watch := func(pods []upgrade.Pod) error {
		i := slices.IndexFunc(pods, func(q upgrade.Pod) bool { return q.UID == old.UID })
		switch {
		case i < 0:
			seenDown = true
		case pods[i].Terminating:
			seenDown = true
			if pods[i].Ready {
				return fmt.Errorf("terminating pod %q is listed as ready", old.Name)
			}
		case seenDown:
			return fmt.Errorf("deleted pod %q (%s) is listed as running again after it was seen terminating or gone", old.Name, old.UID)
		}
		return nil
	}
	terminatingSeen := false
	_, err = s.eventually(fmt.Sprintf("deleted pod %q listed as terminating or gone", old.Name), func(pods []upgrade.Pod) (bool, error) {
		if err := watch(pods); err != nil {
			return false, err
		}
		terminatingSeen = slices.ContainsFunc(pods, func(q upgrade.Pod) bool { return q.UID == old.UID && q.Terminating })
		return seenDown, nil
	})
	if err != nil {
		return err
	}
	if terminatingSeen {
		if err := s.d.Delete(s.ctx, old); err != nil {
			return fmt.Errorf("Delete of terminating pod %q: %w (a pod already terminating is not an error)", old.Name, err)
		}
	}
	_, err = s.eventually(fmt.Sprintf("deleted pod %q gone", old.Name), func(pods []upgrade.Pod) (bool, error) {
		if err := watch(pods); err != nil {
			return false, err
		}
		return !slices.ContainsFunc(pods, func(q upgrade.Pod) bool { return q.UID == old.UID }), nil
	})
	if err != nil {
		return err
	}
	if err := s.d.Delete(s.ctx, old); err != nil {
		return fmt.Errorf("Delete of gone pod %q: %w (a pod already gone is not an error)", old.Name, err)
	}
	if err := s.d.Create(s.ctx, s.slot, s.h.NewVersion, false); err != nil {
		return fmt.Errorf("Create(slot %d, %s, surge=false): %w", s.slot, s.h.NewVersion, err)
	}
	_, err = s.eventually(fmt.Sprintf("a new ready pod at %s in slot %d", s.h.NewVersion, s.slot), func(pods []upgrade.Pod) (bool, error) {
		if err := watch(pods); err != nil {
			return false, err
		}
		for _, p := range slotPods(pods, s.slot) {
			if p.UID == old.UID || p.Terminating {
				continue
			}
			if p.Version != s.h.NewVersion {
				return false, fmt.Errorf("slot %d has pod %q at %s, want %s", s.slot, p.Name, p.Version, s.h.NewVersion)
			}
			if p.Created.IsZero() {
				return false, fmt.Errorf("new pod %q has no creation time", p.Name)
			}
			if p.Ready {
				return true, nil
			}
		}
		return false, nil
	})
	return err
}

func (s *suite) surge() error {
	old, err := s.current()
	if err != nil {
		return err
	}
	if err := s.d.Create(s.ctx, s.slot, s.h.Version, true); err != nil {
		return fmt.Errorf("Create(slot %d, %s, surge=true): %w", s.slot, s.h.Version, err)
	}
	oldRunning := func(pods []upgrade.Pod) error {
		i := slices.IndexFunc(pods, func(q upgrade.Pod) bool { return q.UID == old.UID })
		if i < 0 || pods[i].Terminating {
			return fmt.Errorf("a surge Create stopped the slot's pod %q (%s)", old.Name, old.UID)
		}
		return nil
	}
	var surge upgrade.Pod
	_, err = s.eventually(fmt.Sprintf("a ready surge pod at %s beside pod %q", s.h.Version, old.Name), func(pods []upgrade.Pod) (bool, error) {
		if err := oldRunning(pods); err != nil {
			return false, err
		}
		for _, p := range slotPods(pods, s.slot) {
			if p.UID != old.UID && !p.Terminating && p.Version == s.h.Version && p.Ready {
				surge = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	pods, err := s.d.Pods(s.ctx)
	if err != nil {
		return fmt.Errorf("Pods: %w", err)
	}
	if err := oldRunning(pods); err != nil {
		return err
	}
	if i := slices.IndexFunc(pods, func(q upgrade.Pod) bool { return q.UID == old.UID }); !pods[i].Ready {
		s.logf("pod %q beside the surge pod is not ready", old.Name)
	}
	if surge.Name == old.Name {
		return fmt.Errorf("surge pod and old pod share the name %q", old.Name)
	}
	if err := s.d.Delete(s.ctx, old); err != nil {
		return fmt.Errorf("Delete of pod %q (%s): %w", old.Name, old.UID, err)
	}
	_, err = s.eventually(fmt.Sprintf("surge pod %q the only pod of slot %d", surge.Name, s.slot), func(pods []upgrade.Pod) (bool, error) {
		ps := slotPods(pods, s.slot)
		if !slices.ContainsFunc(ps, func(q upgrade.Pod) bool { return q.UID == surge.UID && !q.Terminating }) {
			return false, fmt.Errorf("surge pod %q (%s) went away when the old pod was deleted", surge.Name, surge.UID)
		}
		return len(ps) == 1 && ps[0].Ready, nil
	})
	if err != nil {
		return err
	}
	if err := s.d.Delete(s.ctx, old); err != nil {
		return fmt.Errorf("Delete of gone pod %q: %w (a pod already gone is not an error)", old.Name, err)
	}
	_, err = s.eventually(fmt.Sprintf("every slot back to one ready pod at %s", s.h.Version), s.steady(s.h.Version))
	return err
}

func (s *suite) failover() error {
	f, ok := s.d.(upgrade.Failoverer)
	if !ok {
		return skipError("the driver does not implement upgrade.Failoverer")
	}
	if s.h.Replicas < 2 {
		return skipError("a failover needs at least 2 replicas")
	}
	pods, err := s.d.Pods(s.ctx)
	if err != nil {
		return fmt.Errorf("Pods: %w", err)
	}
	i := slices.IndexFunc(pods, func(p upgrade.Pod) bool { return p.Primary })
	if i < 0 {
		return skipError("no pod holds the primary role: " + describe(pods))
	}
	primary := pods[i]
	if err := f.Failover(s.ctx, primary); err != nil {
		return fmt.Errorf("Failover of primary %q (%s): %w", primary.Name, primary.UID, err)
	}
	pods, err = s.eventually(fmt.Sprintf("pod %q without the primary role", primary.Name), func(pods []upgrade.Pod) (bool, error) {
		var prim []string
		moved := true
		for _, p := range pods {
			if p.Primary {
				prim = append(prim, p.Name)
				moved = moved && p.UID != primary.UID
			}
		}
		if len(prim) > 1 {
			return false, fmt.Errorf("several pods hold the primary role: %v", prim)
		}
		return moved, nil
	})
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(pods, func(p upgrade.Pod) bool { return p.Primary }) {
		s.logf("no pod holds the primary role right after the failover: %s", describe(pods))
	}
	return nil
}
