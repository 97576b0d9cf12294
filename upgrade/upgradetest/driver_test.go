package upgradetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/verify"
)

func newClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
}

// mustPods lists the pods or fails the test.
func mustPods(t *testing.T, d *Driver) []upgrade.Pod {
	t.Helper()
	pods, err := d.Pods(t.Context())
	if err != nil {
		t.Fatalf("Pods: %v", err)
	}
	return pods
}

func podNamed(t *testing.T, pods []upgrade.Pod, name string) upgrade.Pod {
	t.Helper()
	for _, p := range pods {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("pod %q not listed; have %s", name, names(pods))
	return upgrade.Pod{}
}

func mustPod(t *testing.T, d *Driver, name string) upgrade.Pod {
	t.Helper()
	p, ok := d.Pod(name)
	if !ok {
		t.Fatalf("pod %q does not exist; have %s", name, names(d.Truth()))
	}
	return p
}

func summary(pods []upgrade.Pod) string {
	var parts []string
	for _, p := range pods {
		s := fmt.Sprintf("%s/%d/%s", p.Name, p.Index, p.Version)
		if p.Ready {
			s += "/ready"
		}
		if p.Primary {
			s += "/primary"
		}
		if p.Terminating {
			s += "/terminating"
		}
		if p.Failed != "" {
			s += "/" + p.Failed
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestSeed(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(3, "v1"))
	pods := mustPods(t, d)
	if got, want := summary(pods), "db-0/0/v1/ready/primary db-1/1/v1/ready db-2/2/v1/ready"; got != want {
		t.Fatalf("seeded pods:\n got %s\nwant %s", got, want)
	}
	uids := map[string]bool{}
	for _, p := range pods {
		if p.UID == "" || uids[p.UID] || !p.Created.Equal(clk.Now()) {
			t.Errorf("pod %s: UID %q (seen before: %t), created %v", p.Name, p.UID, uids[p.UID], p.Created)
		}
		uids[p.UID] = true
	}
	if v := d.Versions(); len(v) != 3 || v[0] != "v1" || v[2] != "v1" {
		t.Errorf("Versions() = %v", v)
	}
	if d.Replicas() != 3 || d.Name() != "db" || d.Clock() != clk {
		t.Errorf("Replicas %d, Name %q, Clock %p", d.Replicas(), d.Name(), d.Clock())
	}

	d2 := NewDriver(nil, WithReplicas(2, "v1"), WithPrimary(-1))
	if got, want := summary(d2.Truth()), "pod-0/0/v1/ready pod-1/1/v1/ready"; got != want {
		t.Errorf("no primary, default name: got %s, want %s", got, want)
	}
	d3 := NewDriver(nil, WithReplicas(2, "v1"), WithPrimary(1))
	if !mustPod(t, d3, "pod-1").Primary {
		t.Errorf("WithPrimary(1): %s", summary(d3.Truth()))
	}
}

func TestLazyReadinessAndTermination(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(3, "v1"),
		WithStartDelay(func(index int32, version string) time.Duration {
			if version == "v2" {
				return 10 * time.Second
			}
			return time.Second
		}),
		WithTerminationDelay(func(p upgrade.Pod) time.Duration { return 5 * time.Second }))
	ctx := t.Context()
	old := mustPod(t, d, "db-2")
	if err := d.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	p := podNamed(t, mustPods(t, d), "db-2")
	if !p.Terminating || p.Ready || p.UID != old.UID {
		t.Fatalf("after Delete: %s", summary([]upgrade.Pod{p}))
	}
	// The name is held until the old pod is gone.
	err := d.Create(ctx, 2, "v2", false)
	var exists *AlreadyExistsError
	if !errors.As(err, &exists) || exists.Name != "db-2" || !exists.Terminating || !strings.Contains(err.Error(), `"db-2"`) {
		t.Fatalf("Create while db-2 terminates: %v", err)
	}
	clk.Step(4 * time.Second)
	if _, ok := d.Pod("db-2"); !ok {
		t.Fatal("db-2 gone before its termination delay")
	}
	clk.Step(time.Second)
	if _, ok := d.Pod("db-2"); ok {
		t.Fatal("db-2 still listed after its termination delay")
	}
	if err := d.Create(ctx, 2, "v2", false); err != nil {
		t.Fatal(err)
	}
	p = mustPod(t, d, "db-2")
	if p.Ready || p.Version != "v2" || p.UID == old.UID || !p.Created.Equal(clk.Now()) {
		t.Fatalf("new pod: %+v", p)
	}
	clk.Step(9 * time.Second)
	if mustPod(t, d, "db-2").Ready {
		t.Fatal("ready before its start delay")
	}
	clk.Step(time.Second)
	if !mustPod(t, d, "db-2").Ready {
		t.Fatal("not ready after its start delay")
	}
	// A pod whose time passed without anyone asking is ready at once.
	if err := d.Delete(ctx, mustPod(t, d, "db-1")); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Hour)
	if err := d.Create(ctx, 1, "v1", false); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Hour)
	if got := summary(d.Truth()); got != "db-0/0/v1/ready/primary db-1/1/v1/ready db-2/2/v2/ready" {
		t.Fatalf("after an hour: %s", got)
	}
}

func TestNeverTerminatingAndNeverReady(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithReplicas(2, "v1"),
		WithStartDelay(func(int32, string) time.Duration { return -1 }),
		WithTerminationDelay(func(p upgrade.Pod) time.Duration {
			if p.Primary {
				return -1
			}
			return 0
		}))
	ctx := t.Context()
	if err := d.Delete(ctx, mustPod(t, d, "pod-0")); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, mustPod(t, d, "pod-1")); err != nil {
		t.Fatal(err)
	}
	clk.Step(24 * time.Hour)
	if got := summary(d.Truth()); got != "pod-0/0/v1/primary/terminating" {
		t.Fatalf("stuck terminating primary: %s", got)
	}
	if err := d.Remove("pod-0"); err != nil {
		t.Fatal(err)
	}
	if len(d.Truth()) != 0 {
		t.Fatalf("after Remove: %s", summary(d.Truth()))
	}
	if err := d.Create(ctx, 0, "v2", false); err != nil {
		t.Fatal(err)
	}
	clk.Step(24 * time.Hour)
	if got := summary(d.Truth()); got != "pod-0/0/v2" {
		t.Fatalf("negative start delay: %s", got)
	}
}

func TestCreateArguments(t *testing.T) {
	d := NewDriver(nil, WithName("db"), WithReplicas(2, "v1"))
	ctx := t.Context()
	for _, tc := range []struct {
		index   int32
		version string
		want    string
	}{
		{-1, "v2", "slot -1"},
		{2, "v2", "index out of range"},
		{1, "", "empty version"},
		{1, "v2", `"db-1": already exists (uid-2, running)`},
	} {
		err := d.Create(ctx, tc.index, tc.version, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Create(%d, %q): %v, want an error containing %q", tc.index, tc.version, err, tc.want)
		}
	}
	if n := len(d.Truth()); n != 2 {
		t.Fatalf("refused creates made pods: %s", summary(d.Truth()))
	}
	for _, a := range d.Creates() {
		if a.Effective || a.Err == nil {
			t.Errorf("refused create recorded as %s", a)
		}
	}
}

func TestSurgeNames(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(2, "v1"))
	ctx := t.Context()
	if err := d.Create(ctx, 1, "v2", true); err != nil {
		t.Fatal(err)
	}
	if got := summary(d.Truth()); got != "db-0/0/v1/ready/primary db-1/1/v1/ready db-1-surge-1/1/v2/ready" {
		t.Fatalf("surge kept the old pod beside the new: %s", got)
	}
	if err := d.Delete(ctx, mustPod(t, d, "db-1")); err != nil {
		t.Fatal(err)
	}
	// The surge pod is now the slot's only pod; the next surge gets a new name.
	clk.Step(time.Second)
	if err := d.Create(ctx, 1, "v1", true); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, mustPod(t, d, "db-1-surge-1")); err != nil {
		t.Fatal(err)
	}
	// And a non-surge create takes the stable name again once it is free.
	if err := d.Delete(ctx, mustPod(t, d, "db-1-surge-2")); err != nil {
		t.Fatal(err)
	}
	if err := d.Create(ctx, 1, "v1", false); err != nil {
		t.Fatal(err)
	}
	if got := summary(d.Truth()); got != "db-0/0/v1/ready/primary db-1/1/v1/ready" {
		t.Fatalf("after a round trip: %s", got)
	}
	var got []string
	for _, a := range d.Creates() {
		got = append(got, a.Pod+"="+a.UID)
	}
	if want := "db-1-surge-1=uid-3 db-1-surge-2=uid-4 db-1=uid-5"; strings.Join(got, " ") != want {
		t.Errorf("created %v, want %s", got, want)
	}
}

func TestDeletePreconditions(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(2, "v1"),
		WithTerminationDelay(func(upgrade.Pod) time.Duration { return time.Minute }))
	ctx := t.Context()
	cur := mustPod(t, d, "db-1")

	stale := cur
	stale.UID = "uid-old"
	err := d.Delete(ctx, stale)
	var conflict *ConflictError
	if !errors.As(err, &conflict) || conflict.Name != "db-1" || conflict.CurrentUID != cur.UID {
		t.Fatalf("Delete with a stale UID: %v", err)
	}
	if p := mustPod(t, d, "db-1"); p.Terminating {
		t.Fatal("stale-UID Delete deleted the current pod")
	}

	noUID := cur
	noUID.UID = ""
	if err := d.Delete(ctx, noUID); err == nil || !strings.Contains(err.Error(), "no UID") {
		t.Fatalf("Delete without UID: %v", err)
	}
	wrongName := cur
	wrongName.Name = "db-0"
	if err := d.Delete(ctx, wrongName); err == nil || !strings.Contains(err.Error(), "belongs to pod") {
		t.Fatalf("Delete with a UID of another name: %v", err)
	}

	if err := d.Delete(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, cur); err != nil {
		t.Fatalf("Delete of a terminating pod: %v", err)
	}
	clk.Step(time.Minute)
	if err := d.Delete(ctx, cur); err != nil {
		t.Fatalf("Delete of a gone pod: %v", err)
	}
	// A newer incarnation of the name is not hit by a Delete of the old one.
	if err := d.Create(ctx, 1, "v2", false); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, cur); !errors.As(err, &conflict) {
		t.Fatalf("Delete of the old incarnation: %v", err)
	}
	if p := mustPod(t, d, "db-1"); p.Terminating || p.Version != "v2" {
		t.Fatalf("new incarnation hit: %+v", p)
	}

	var eff []string
	for _, a := range d.Deletes() {
		eff = append(eff, fmt.Sprintf("%t", a.Effective))
	}
	if got, want := strings.Join(eff, " "), "false false false true false false false"; got != want {
		t.Errorf("effective flags of the deletes: %s, want %s", got, want)
	}
	if e := d.EffectiveDeletes(); len(e) != 1 || e[0].UID != cur.UID || len(e[0].Before) != 2 || !podNamed(t, e[0].After, "db-1").Terminating {
		t.Errorf("EffectiveDeletes: %v", e)
	}
}

func TestFailover(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(3, "v1"), WithFailoverDelay(3*time.Second))
	ctx := t.Context()
	primary := mustPod(t, d, "db-0")
	if err := d.Failover(ctx, primary); err != nil {
		t.Fatal(err)
	}
	if err := d.Failover(ctx, primary); err != nil {
		t.Fatalf("Failover while one is in progress: %v", err)
	}
	clk.Step(2 * time.Second)
	if !mustPod(t, d, "db-0").Primary {
		t.Fatal("role moved before the failover delay")
	}
	clk.Step(time.Second)
	if mustPod(t, d, "db-0").Primary || !mustPod(t, d, "db-1").Primary {
		t.Fatalf("after the failover delay: %s", summary(d.Truth()))
	}
	// Not primary any more: nothing to do.
	if err := d.Failover(ctx, primary); err != nil {
		t.Fatalf("Failover of a former primary: %v", err)
	}
	fo := d.ActionsOf(ActionFailover)
	if len(fo) != 3 || !fo[0].Effective || fo[1].Effective || fo[2].Effective {
		t.Errorf("failover actions: %v", fo)
	}

	// The target goes away before the role moves: the role stays.
	if err := d.Failover(ctx, mustPod(t, d, "db-1")); err != nil {
		t.Fatal(err)
	}
	if err := d.Kill("db-0"); err != nil { // the default target is db-0 (lowest other slot)
		t.Fatal(err)
	}
	clk.Step(time.Minute)
	if !mustPod(t, d, "db-1").Primary {
		t.Fatalf("role moved to an unready pod: %s", summary(d.Truth()))
	}

	// A surge pod of the primary's own slot is the last resort.
	if err := d.Kill("db-2"); err != nil {
		t.Fatal(err)
	}
	if err := d.Failover(ctx, mustPod(t, d, "db-1")); err == nil || !strings.Contains(err.Error(), "no other ready pod") {
		t.Fatalf("Failover without a candidate: %v", err)
	}
	if err := d.Create(ctx, 1, "v2", true); err != nil {
		t.Fatal(err)
	}
	if err := d.Failover(ctx, mustPod(t, d, "db-1")); err != nil {
		t.Fatal(err)
	}
	clk.Step(3 * time.Second)
	if !mustPod(t, d, "db-1-surge-1").Primary {
		t.Fatalf("role did not move to the surge pod: %s", summary(d.Truth()))
	}

	// Stale UID and gone pods.
	stale := mustPod(t, d, "db-1-surge-1")
	stale.UID = "uid-x"
	var conflict *ConflictError
	if err := d.Failover(ctx, stale); !errors.As(err, &conflict) {
		t.Fatalf("Failover with a stale UID: %v", err)
	}
	if err := d.Failover(ctx, upgrade.Pod{Name: "db-9", UID: "uid-9"}); err != nil {
		t.Fatalf("Failover of a gone pod: %v", err)
	}
}

func TestFailoverChooser(t *testing.T) {
	clk := newClock()
	var seen []string
	d := NewDriver(clk, WithName("db"), WithReplicas(3, "v1"),
		WithFailoverChooser(func(primary upgrade.Pod, cands []upgrade.Pod) (upgrade.Pod, error) {
			for _, c := range cands {
				seen = append(seen, c.Name)
			}
			if primary.Name == "db-2" {
				return upgrade.Pod{}, errors.New("replication link down")
			}
			if primary.Name == "db-1" {
				return upgrade.Pod{Name: "db-7", UID: "uid-7"}, nil
			}
			return cands[len(cands)-1], nil
		}))
	ctx := t.Context()
	if err := d.Failover(ctx, mustPod(t, d, "db-0")); err != nil {
		t.Fatal(err)
	}
	if !mustPod(t, d, "db-2").Primary || strings.Join(seen, ",") != "db-1,db-2" {
		t.Fatalf("chooser: candidates %v, pods %s", seen, summary(d.Truth()))
	}
	if err := d.Failover(ctx, mustPod(t, d, "db-2")); err == nil || !strings.Contains(err.Error(), "replication link down") {
		t.Fatalf("chooser error: %v", err)
	}
	if err := d.SetPrimary("db-1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Failover(ctx, mustPod(t, d, "db-1")); err == nil || !strings.Contains(err.Error(), "not a candidate") {
		t.Fatalf("chooser picking a stranger: %v", err)
	}
	if err := d.SetPrimary(""); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPrimary("db-9"); err == nil {
		t.Fatal("SetPrimary of a missing pod: no error")
	}
	for _, p := range d.Truth() {
		if p.Primary {
			t.Fatalf("SetPrimary(\"\") left %s primary", p.Name)
		}
	}
}

func TestCallFaults(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(3, "v1"))
	ctx := t.Context()
	boom := errors.New("boom")

	d.FailNext(ActionPods, boom)
	if _, err := d.Pods(ctx); !errors.Is(err, boom) {
		t.Fatalf("FailNext(Pods): %v", err)
	}
	mustPods(t, d)

	d.FailNth(ActionCreate, 2, nil)
	if err := d.Create(ctx, 1, "v2", true); err != nil {
		t.Fatalf("first create: %v", err)
	}
	err := d.Create(ctx, 2, "v2", true)
	var inj *InjectedError
	if !errors.As(err, &inj) || inj.Kind != ActionCreate || inj.Call != 2 || inj.AfterEffect {
		t.Fatalf("FailNth(Create, 2): %v", err)
	}
	if len(d.Truth()) != 4 {
		t.Fatalf("failed create made a pod: %s", summary(d.Truth()))
	}

	// After the effect: the pod goes, the caller hears an error.
	d.InjectFault(CallFault{Kind: ActionDelete, AfterEffect: true, Err: context.DeadlineExceeded})
	err = d.Delete(ctx, mustPod(t, d, "db-1"))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &inj) || !inj.AfterEffect {
		t.Fatalf("after-effect fault: %v", err)
	}
	if _, ok := d.Pod("db-1"); ok {
		t.Fatal("after-effect fault: the delete did not happen")
	}
	if a := d.Deletes()[0]; !a.Effective || a.Err == nil {
		t.Fatalf("after-effect delete recorded as %s", a)
	}

	// Several consecutive calls, and every call of every kind.
	d.InjectFault(CallFault{Kind: ActionPods, Times: 2})
	for i := range 3 {
		_, err := d.Pods(ctx)
		if (err != nil) != (i < 2) {
			t.Fatalf("Times 2, call %d: %v", i, err)
		}
	}
	d.InjectFault(CallFault{Kind: AnyAction, Times: -1, Err: boom})
	if _, err := d.Pods(ctx); !errors.Is(err, boom) {
		t.Fatalf("AnyAction, Pods: %v", err)
	}
	if err := d.Failover(ctx, mustPod(t, d, "db-0")); !errors.Is(err, boom) {
		t.Fatalf("AnyAction, Failover: %v", err)
	}
	if !mustPod(t, d, "db-0").Primary {
		t.Fatal("failed failover moved the role")
	}
	d.ClearFaults()
	if _, err := d.Pods(ctx); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
	if n := d.Calls(ActionPods); n != 7 {
		t.Errorf("Calls(Pods) = %d, want 7", n)
	}
	if n := d.Calls(AnyAction); n != 11 {
		t.Errorf("Calls(AnyAction) = %d, want 11", n)
	}
	if !strings.Contains(inj.Error(), "Delete call 1: injected fault after the write took effect") {
		t.Errorf("message: %v", inj)
	}
}

func TestReactors(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(3, "v1"))
	ctx := t.Context()
	var order []string
	d.AppendReactor(AnyAction, func(a Action) (bool, error) {
		order = append(order, "any:"+string(a.Kind))
		return false, nil
	})
	d.PrependReactor(ActionCreate, func(a Action) (bool, error) {
		order = append(order, fmt.Sprintf("create:%d", a.Call))
		if a.Index == 2 {
			return true, errors.New("quota exceeded")
		}
		return false, nil
	})
	// A reactor may call the driver: here a pod crashes as it is deleted.
	d.PrependReactor(ActionDelete, func(a Action) (bool, error) {
		return false, d.Kill("db-2")
	})
	if err := d.Create(ctx, 2, "v2", true); err == nil || !strings.Contains(err.Error(), "quota exceeded") {
		t.Fatalf("handled create: %v", err)
	}
	if err := d.Create(ctx, 1, "v2", true); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, mustPod(t, d, "db-1")); err != nil {
		t.Fatal(err)
	}
	if mustPod(t, d, "db-2").Ready {
		t.Fatal("reactor's Kill had no effect")
	}
	if got := strings.Join(order, " "); got != "create:1 create:2 any:Create any:Delete" {
		t.Errorf("reactor order: %s", got)
	}
	c := d.Creates()
	if !c[0].Handled || c[0].Effective || c[0].Before != nil || c[1].Handled || !c[1].Effective {
		t.Errorf("creates: %v", c)
	}
	d.PrependReactor(ActionPods, func(Action) (bool, error) { return true, nil })
	if pods, err := d.Pods(ctx); err != nil || len(pods) != 0 {
		t.Errorf("handled Pods: %v, %v", pods, err)
	}
}

func TestPodFaults(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(4, "v1"), AllowDuplicateCreates(),
		WithStartDelay(func(int32, string) time.Duration { return 10 * time.Second }))
	ctx := t.Context()
	d.NeverReady(1, "v2")
	d.FailPods(2, "v2", "ImagePullBackOff", 5*time.Second)
	d.FailPods(3, "", "", 20*time.Second) // ready at 10s, crashes at 20s
	if !mustPod(t, d, "db-1").Ready || mustPod(t, d, "db-2").Failed != "" {
		t.Fatal("rules touched existing pods")
	}
	for i := int32(1); i <= 3; i++ {
		if err := d.Create(ctx, i, "v2", true); err != nil {
			t.Fatal(err)
		}
	}
	clk.Step(5 * time.Second)
	if p := mustPod(t, d, "db-2-surge-1"); p.Failed != "ImagePullBackOff" || p.Ready {
		t.Fatalf("FailPods after 5s: %+v", p)
	}
	clk.Step(10 * time.Second)
	if p := mustPod(t, d, "db-1-surge-1"); p.Ready || p.Failed != "" {
		t.Fatalf("NeverReady: %+v", p)
	}
	if p := mustPod(t, d, "db-3-surge-1"); !p.Ready {
		t.Fatalf("db-3 surge before its crash: %+v", p)
	}
	clk.Step(5 * time.Second)
	if p := mustPod(t, d, "db-3-surge-1"); p.Ready || p.Failed != "Failed" {
		t.Fatalf("db-3 surge after its crash: %+v", p)
	}
	// Failed pods cannot be exec'ed into.
	if _, err := d.Exec(ctx, mustPod(t, d, "db-2-surge-1").Target(), "true"); err == nil || !strings.Contains(err.Error(), "ImagePullBackOff") {
		t.Fatalf("Exec in a failed pod: %v", err)
	}
	d.ClearFaults()
	if err := d.Create(ctx, 1, "v2", true); err != nil {
		t.Fatal(err)
	}
	clk.Step(10 * time.Second)
	if !mustPod(t, d, "db-1-surge-2").Ready {
		t.Fatal("rule still applies after ClearFaults")
	}
}

func TestKillAndSetReady(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(2, "v1"))
	start := clk.Now()
	if err := d.SetReadyAt("db-1", false, start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := d.SetReadyAt("db-1", true, start.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	clk.Step(59 * time.Second)
	if !mustPod(t, d, "db-1").Ready {
		t.Fatal("down early")
	}
	clk.Step(time.Second)
	if mustPod(t, d, "db-1").Ready {
		t.Fatal("SetReadyAt(false) had no effect")
	}
	clk.Step(time.Minute)
	if !mustPod(t, d, "db-1").Ready {
		t.Fatal("SetReadyAt(true) had no effect")
	}
	if err := d.Kill("db-0"); err != nil {
		t.Fatal(err)
	}
	if p := mustPod(t, d, "db-0"); p.Ready || !p.Primary {
		t.Fatalf("killed primary: %+v", p)
	}
	if err := d.SetReady("db-0", true); err != nil {
		t.Fatal(err)
	}
	if !mustPod(t, d, "db-0").Ready {
		t.Fatal("SetReady(true) did not revive")
	}
	for _, err := range []error{d.Kill("db-9"), d.SetReady("db-9", true), d.Remove("db-9")} {
		if err == nil || !strings.Contains(err.Error(), `"db-9"`) {
			t.Errorf("fault on a missing pod: %v", err)
		}
	}
	if err := d.Remove("db-0"); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Truth() {
		if p.Primary {
			t.Errorf("role survived Remove: %s", p.Name)
		}
	}
}

func TestStalePods(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(2, "v1"))
	ctx := t.Context()
	mustPods(t, d) // call 1: the original pair
	if err := d.Delete(ctx, mustPod(t, d, "db-1")); err != nil {
		t.Fatal(err)
	}
	d.StalePods(1, 2)
	if got := summary(mustPods(t, d)); !strings.Contains(got, "db-1/1/v1/ready") {
		t.Fatalf("stale call 1 shows the delete: %s", got)
	}
	if err := d.Create(ctx, 1, "v2", false); err != nil {
		t.Fatal(err)
	}
	// One call behind: shows the state of the previous call (db-1 gone).
	if got := summary(mustPods(t, d)); got != "db-0/0/v1/ready/primary" {
		t.Fatalf("stale call 2: %s", got)
	}
	if got := summary(mustPods(t, d)); got != "db-0/0/v1/ready/primary db-1/1/v2/ready" {
		t.Fatalf("fresh again: %s", got)
	}
	// Further back than remembered: the oldest remembered call.
	d.StalePods(1000, 1)
	if got := summary(mustPods(t, d)); got != "db-0/0/v1/ready/primary db-1/1/v1/ready" {
		t.Fatalf("very stale: %s", got)
	}
	if p := d.ActionsOf(ActionPods); len(p[len(p)-1].Returned) != 2 {
		t.Errorf("Returned not recorded: %v", p[len(p)-1])
	}
}

// TestMaxStaleness: a stale list is never older than WithMaxStaleness on
// the clock; the oldest list within it stands in for an older one.
func TestMaxStaleness(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(2, "v1"), WithMaxStaleness(15*time.Second))
	mustPods(t, d) // at 0s: both ready
	clk.Step(10 * time.Second)
	if err := d.Kill("db-1"); err != nil {
		t.Fatal(err)
	}
	mustPods(t, d) // at 10s: db-1 not ready
	clk.Step(10 * time.Second)
	d.StalePods(2, 1) // the list of 0s is 20s old: too old
	if got := summary(mustPods(t, d)); got != "db-0/0/v1/ready/primary db-1/1/v1" {
		t.Fatalf("stale list at 20s: %s, want the one of 10s", got)
	}
}

func TestLag(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(2, "v1"),
		WithStartDelay(func(int32, string) time.Duration { return 10 * time.Second }),
		WithTerminationDelay(func(upgrade.Pod) time.Duration { return 2 * time.Second }))
	ctx := t.Context()
	d.SetLag(5 * time.Second)
	if err := d.Delete(ctx, mustPod(t, d, "db-1")); err != nil {
		t.Fatal(err)
	}
	if got := summary(mustPods(t, d)); got != "db-0/0/v1/ready/primary db-1/1/v1/ready" {
		t.Fatalf("lagging view at 0s: %s", got)
	}
	clk.Step(5 * time.Second)
	if got := summary(mustPods(t, d)); got != "db-0/0/v1/ready/primary db-1/1/v1/terminating" {
		t.Fatalf("lagging view at 5s: %s", got)
	}
	if err := d.Create(ctx, 1, "v2", false); err != nil {
		t.Fatal(err)
	}
	clk.Step(2 * time.Second) // the view is at 2s: db-1 gone, new pod not yet created
	if got := summary(mustPods(t, d)); got != "db-0/0/v1/ready/primary" {
		t.Fatalf("lagging view at 7s: %s", got)
	}
	clk.Step(13 * time.Second) // view at 15s: new pod created at 5s, ready at 15s
	if got := summary(mustPods(t, d)); got != "db-0/0/v1/ready/primary db-1/1/v2/ready" {
		t.Fatalf("lagging view at 20s: %s", got)
	}
	if got := summary(d.Truth()); got != "db-0/0/v1/ready/primary db-1/1/v2/ready" {
		t.Fatalf("truth: %s", got)
	}
	d.SetLag(0)
	if err := d.Kill("db-0"); err != nil {
		t.Fatal(err)
	}
	if mustPods(t, d)[0].Ready {
		t.Fatal("lag 0 still lags")
	}
}

func TestAccess(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(2, "v1"),
		WithExec(func(t verify.Target, command string) (string, error) {
			if command == "fail" {
				return "", errors.New("exit status 1")
			}
			return fmt.Sprintf("%s@%s ran %s", t.Name, t.Version, command), nil
		}),
		WithGet(func(t verify.Target, port int32, path string) (int, []byte, error) {
			return 503, []byte(fmt.Sprintf("%s:%d%s", t.Name, port, path)), nil
		}),
		WithVerify(func(t verify.Target) error {
			if t.Index == 0 {
				return errors.New("replication lag")
			}
			return nil
		}),
		WithTerminationDelay(func(upgrade.Pod) time.Duration { return time.Minute }))
	ctx := t.Context()
	var _ verify.PodAccess = d
	var _ upgrade.Failoverer = d
	tgt := mustPod(t, d, "db-1").Target()
	if out, err := d.Exec(ctx, tgt, "redis-cli ping"); err != nil || out != "db-1@v1 ran redis-cli ping" {
		t.Fatalf("Exec: %q, %v", out, err)
	}
	if _, err := d.Exec(ctx, tgt, "fail"); err == nil || !strings.Contains(err.Error(), `exec "fail" in pod "db-1": exit status 1`) {
		t.Fatalf("failing Exec: %v", err)
	}
	if code, body, err := d.Get(ctx, tgt, 8080, "/health"); err != nil || code != 503 || string(body) != "db-1:8080/health" {
		t.Fatalf("Get: %d %q %v", code, body, err)
	}
	v := d.Verifier()
	if err := v.Verify(ctx, mustPod(t, d, "db-0").Target()); err == nil {
		t.Fatal("WithVerify not used")
	}
	if err := v.Verify(ctx, tgt); err != nil {
		t.Fatal(err)
	}
	d.SetVerifyResult(AnyIndex, "v1", errors.New("all v1 fail"))
	d.SetVerifyResult(1, "", nil)
	if err := v.Verify(ctx, tgt); err != nil {
		t.Fatalf("latest rule should win: %v", err)
	}
	if err := v.Verify(ctx, mustPod(t, d, "db-0").Target()); err == nil || err.Error() != "all v1 fail" {
		t.Fatalf("rule: %v", err)
	}
	d.FailNext(ActionVerify, nil)
	if err := v.Verify(ctx, tgt); err == nil {
		t.Fatal("fault on Verify ignored")
	}
	if err := d.Delete(ctx, mustPod(t, d, "db-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(ctx, tgt, "true"); err == nil || !strings.Contains(err.Error(), "terminating") {
		t.Fatalf("Exec in a terminating pod: %v", err)
	}
	if _, _, err := d.Get(ctx, verify.Target{Name: "db-7"}, 0, "/"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("Get from a missing pod: %v", err)
	}
	// Defaults.
	d2 := NewDriver(clk, WithReplicas(1, "v1"))
	tgt2 := mustPod(t, d2, "pod-0").Target()
	if out, err := d2.Exec(ctx, tgt2, "x"); out != "" || err != nil {
		t.Errorf("default Exec: %q %v", out, err)
	}
	if code, body, err := d2.Get(ctx, tgt2, 0, "/"); code != 200 || string(body) != "ok" || err != nil {
		t.Errorf("default Get: %d %q %v", code, body, err)
	}
	if err := d2.Verifier().Verify(ctx, tgt2); err != nil {
		t.Errorf("default Verifier: %v", err)
	}
	var kinds []string
	for _, a := range d.Actions() {
		kinds = append(kinds, string(a.Kind))
	}
	if got := strings.Join(kinds, " "); got != "Exec Exec Get Verify Verify Verify Verify Verify Delete Exec Get" {
		t.Errorf("recorded: %s", got)
	}
}

func TestWithoutFailover(t *testing.T) {
	d := NewDriver(nil, WithReplicas(2, "v1"))
	if !d.CanFailover() {
		t.Fatal("CanFailover false by default")
	}
	pd := d.WithoutFailover()
	if _, ok := pd.(upgrade.Failoverer); ok {
		t.Fatal("WithoutFailover still implements Failoverer")
	}
	if _, ok := pd.(verify.PodAccess); !ok {
		t.Fatal("WithoutFailover lost PodAccess")
	}
	if d.CanFailover() {
		t.Fatal("CanFailover true after WithoutFailover")
	}
	ctx := t.Context()
	pods, err := pd.Pods(ctx)
	if err != nil || len(pods) != 2 {
		t.Fatal(pods, err)
	}
	if err := pd.Create(ctx, 1, "v2", true); err != nil {
		t.Fatal(err)
	}
	if err := pd.Delete(ctx, pods[1]); err != nil {
		t.Fatal(err)
	}
	a := pd.(verify.PodAccess)
	if _, err := a.Exec(ctx, pods[0].Target(), "true"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Get(ctx, pods[0].Target(), 0, "/"); err != nil {
		t.Fatal(err)
	}
	if n := len(d.Actions()); n != 5 {
		t.Errorf("%d actions recorded through the wrapper, want 5", n)
	}
}

func TestCanceledContext(t *testing.T) {
	d := NewDriver(nil, WithReplicas(2, "v1"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := d.Delete(ctx, mustPod(t, d, "pod-1")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Delete with a canceled context: %v", err)
	}
	if mustPod(t, d, "pod-1").Terminating {
		t.Fatal("canceled Delete took effect")
	}
	if _, err := d.Pods(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Pods with a canceled context: %v", err)
	}
}

func TestActionLog(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(2, "v1"))
	ctx := t.Context()
	mustPods(t, d)
	clk.Step(time.Second)
	if err := d.Create(ctx, 1, "v2", true); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, mustPod(t, d, "db-1")); err != nil {
		t.Fatal(err)
	}
	if err := d.Failover(ctx, mustPod(t, d, "db-0")); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, a := range d.Actions() {
		lines = append(lines, a.String())
	}
	want := []string{
		"#1 Pods -> 2 pods",
		"#2 Create slot 1 at v2 surge -> db-1-surge-1 (uid-3) effective",
		"#3 Delete db-1 (slot 1, v1, uid-2) effective",
		"#4 Failover db-0 (slot 0, v1, uid-1) effective",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("log:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if a := d.Actions()[1]; !a.Time.Equal(clk.Now()) || a.Call != 1 || len(a.Before) != 2 || len(a.After) != 3 {
		t.Errorf("create action: %+v", a)
	}
	d.ClearActions()
	mustPods(t, d)
	if a := d.Actions(); len(a) != 1 || a[0].Seq != 5 || a[0].Call != 2 {
		t.Errorf("after ClearActions: %v", a)
	}
}

func TestConcurrentUse(t *testing.T) {
	clk := newClock()
	d := NewDriver(clk, WithName("db"), WithReplicas(4, "v1"),
		WithStartDelay(func(int32, string) time.Duration { return time.Second }),
		WithTerminationDelay(func(upgrade.Pod) time.Duration { return time.Second }))
	d.SetLag(time.Second)
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				switch i % 5 {
				case 0:
					_, _ = d.Pods(ctx)
				case 1:
					_ = d.Create(ctx, int32(g), "v2", true)
				case 2:
					for _, p := range d.Truth() {
						if p.Index == int32(g) {
							_ = d.Delete(ctx, p)
							break
						}
					}
				case 3:
					_ = d.Kill(fmt.Sprintf("db-%d", g))
					_ = d.Failover(ctx, upgrade.Pod{Name: "db-0", UID: "uid-1"})
				case 4:
					clk.Step(100 * time.Millisecond)
					_ = d.Actions()
				}
			}
		})
	}
	wg.Wait()
	if n := len(d.Actions()); n == 0 {
		t.Fatal("nothing recorded")
	}
}
