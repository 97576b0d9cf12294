package upgrade_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/upgradetest"
)

var t0 = time.Date(2025, 1, 19, 10, 0, 0, 0, time.UTC)

// harness drives an Upgrader over an in-memory driver in fake time and
// checks the invariants after every Step.
type harness struct {
	t        *testing.T
	clk      *clocktesting.FakeClock
	d        *upgradetest.Driver
	drv      upgrade.PodDriver
	spec     upgrade.Spec
	st       status.Status
	replicas int32
	events   []upgrade.Event
	opts     []upgrade.Option
	checker  *upgradetest.Checker
	// maxPods and maxUnready are the most pods listed and the most slots
	// without a ready pod seen after any Step.
	maxPods, maxUnready int
	steps               int
}

type hopt func(*harness, *[]upgradetest.Option)

func withDriverOpts(o ...upgradetest.Option) hopt {
	return func(_ *harness, do *[]upgradetest.Option) { *do = append(*do, o...) }
}

func withUpgraderOpts(o ...upgrade.Option) hopt {
	return func(h *harness, _ *[]upgradetest.Option) { h.opts = append(h.opts, o...) }
}

func newHarness(t *testing.T, replicas int32, specYAML string, opts ...hopt) *harness {
	t.Helper()
	spec, err := upgrade.ParseSpec([]byte(specYAML))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clk: clocktesting.NewFakeClock(t0), spec: spec, replicas: replicas}
	dopts := []upgradetest.Option{
		upgradetest.WithName("redis"),
		upgradetest.WithReplicas(replicas, "v1"),
		upgradetest.WithStartDelay(func(int32, string) time.Duration { return 5 * time.Second }),
		upgradetest.WithTerminationDelay(func(upgrade.Pod) time.Duration { return 2 * time.Second }),
	}
	for _, o := range opts {
		o(h, &dopts)
	}
	h.d = upgradetest.NewDriver(h.clk, dopts...)
	h.drv = h.d
	return h
}

func (h *harness) upgrader() *upgrade.Upgrader {
	h.t.Helper()
	opts := append([]upgrade.Option{
		upgrade.WithClock(h.clk),
		upgrade.WithNotifier(upgrade.NotifierFunc(func(_ context.Context, e upgrade.Event) { h.events = append(h.events, e) })),
	}, h.opts...)
	u, err := upgrade.New(h.drv, h.spec, opts...)
	if err != nil {
		h.t.Fatal(err)
	}
	upgrade.GuardShared(u)
	return u
}

// step runs one Step on a fresh Upgrader, checks the invariants, and
// returns the result.
func (h *harness) step(version string) upgrade.Result {
	h.t.Helper()
	u := h.upgrader()
	if h.checker == nil {
		h.checker = upgradetest.NewChecker(h.spec, h.replicas, "", "", upgradetest.FailoverCapable(h.d.CanFailover()))
	}
	res, err := u.Step(context.Background(), &h.st, upgrade.Desired{Version: version, Replicas: h.replicas})
	if err != nil {
		h.t.Fatalf("step %d: %v", h.steps, err)
	}
	h.steps++
	if err := h.checker.CheckStep(&h.st, h.d); err != nil {
		h.t.Fatalf("step %d: invariant: %v", h.steps, err)
	}
	h.measure()
	return res
}

func (h *harness) measure() {
	pods := h.d.Truth()
	if len(pods) > h.maxPods {
		h.maxPods = len(pods)
	}
	ready := map[int32]bool{}
	for _, p := range pods {
		if p.Ready && !p.Terminating {
			ready[p.Index] = true
		}
	}
	if u := int(h.replicas) - len(ready); u > h.maxUnready {
		h.maxUnready = u
	}
}

// run steps until Done, moving the fake clock as each Result asks.
func (h *harness) run(version string) {
	h.t.Helper()
	for i := 0; i < 5000; i++ {
		res := h.step(version)
		if res.Done {
			return
		}
		h.clk.Step(res.RequeueAfter)
	}
	h.t.Fatalf("no Done after 5000 steps; status %+v", h.st.UpgradeStatus)
}

func (h *harness) setPartition(p int32) {
	h.spec.RollingUpdate.Partition = &p
	if h.checker != nil {
		h.checker.SetPartition(p)
	}
}

func (h *harness) reasons() []string {
	var r []string
	for _, e := range h.events {
		r = append(r, e.Reason)
	}
	return r
}

func (h *harness) count(reason string) int {
	n := 0
	for _, e := range h.events {
		if e.Reason == reason {
			n++
		}
	}
	return n
}

func (h *harness) versions() string {
	var parts []string
	for _, p := range h.d.Truth() {
		if !p.Terminating {
			parts = append(parts, fmt.Sprintf("%d=%s", p.Index, p.Version))
		}
	}
	return strings.Join(parts, " ")
}

// allAt reports whether every slot runs exactly one pod, at v.
func (h *harness) allAt(v string) bool {
	pods := h.d.Truth()
	if len(pods) != int(h.replicas) {
		return false
	}
	for _, p := range pods {
		if p.Version != v || p.Terminating {
			return false
		}
	}
	return true
}

// firstWrite returns the slot of the first effective create or delete.
func (h *harness) firstWrite() int32 {
	for _, a := range h.d.Actions() {
		if (a.Kind == upgradetest.ActionCreate || a.Kind == upgradetest.ActionDelete) && a.Effective {
			return a.Index
		}
	}
	return -1
}

// createOrder lists the slots of effective creates, in order.
func (h *harness) createOrder() []int32 {
	var idx []int32
	for _, a := range h.d.Creates() {
		if a.Effective {
			idx = append(idx, a.Index)
		}
	}
	return idx
}

func (h *harness) phases() (status.Phase, status.UpgradePhase) {
	if h.st.UpgradeStatus == nil {
		return h.st.Phase, ""
	}
	return h.st.Phase, h.st.UpgradeStatus.Phase
}
