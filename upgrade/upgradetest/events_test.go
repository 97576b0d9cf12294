package upgradetest

import (
	"testing"
	"time"

	"github.com/rollgate/rollgate/upgrade"
)

// TestNextEvent: NextEvent names, in order, every time the view changes by
// itself (a pod turning Ready, a terminating pod going, a failover, a
// FailPods reason, a lagged change), and nothing once all is settled.
func TestNextEvent(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	d := NewDriver(clk, WithReplicas(2, "v1"),
		WithStartDelay(func(i int32, _ string) time.Duration { return time.Duration(10+i) * time.Second }),
		WithTerminationDelay(func(upgrade.Pod) time.Duration { return 3 * time.Second }),
		WithFailoverDelay(7*time.Second))
	if at, ok := d.NextEvent(); ok {
		t.Fatalf("seeded group: NextEvent = %v, want none", at)
	}
	ctx := t.Context()
	pods := mustPods(t, d)
	if err := d.Delete(ctx, podNamed(t, pods, "pod-1")); err != nil {
		t.Fatal(err)
	}
	if err := d.Create(ctx, 0, "v2", true); err != nil {
		t.Fatal(err)
	}
	d.FailPods(AnyIndex, "v3", "ImagePullBackOff", 30*time.Second)
	if err := d.Failover(ctx, podNamed(t, pods, "pod-0")); err == nil {
		t.Fatal("failover with no other ready pod: want an error")
	}
	want := []time.Duration{3 * time.Second, 10 * time.Second}
	for _, w := range want {
		at, ok := d.NextEvent()
		if !ok || !at.Equal(t0.Add(w)) {
			t.Fatalf("NextEvent = %v %v, want t0+%v", at, ok, w)
		}
		clk.SetTime(at)
		mustPods(t, d) // settle
	}
	// The surge pod is ready: a failover to it completes 7s later.
	if err := d.Failover(ctx, podNamed(t, mustPods(t, d), "pod-0")); err != nil {
		t.Fatal(err)
	}
	if at, ok := d.NextEvent(); !ok || !at.Equal(t0.Add(17*time.Second)) {
		t.Fatalf("after failover: NextEvent = %v %v, want t0+17s", at, ok)
	}
	clk.SetTime(t0.Add(17 * time.Second))
	if at, ok := d.NextEvent(); ok {
		t.Fatalf("settled: NextEvent = %v, want none", at)
	}
	// A FailPods reason takes effect after its delay.
	if err := d.Create(ctx, 1, "v3", false); err != nil {
		t.Fatal(err)
	}
	if at, ok := d.NextEvent(); !ok || !at.Equal(t0.Add(28*time.Second)) {
		t.Fatalf("start delay of slot 1: NextEvent = %v %v, want t0+28s", at, ok)
	}
	clk.SetTime(t0.Add(28 * time.Second))
	if at, ok := d.NextEvent(); !ok || !at.Equal(t0.Add(47*time.Second)) {
		t.Fatalf("FailPods: NextEvent = %v %v, want t0+47s", at, ok)
	}
	// With lag, a write reaches the view lag later.
	clk.SetTime(t0.Add(60 * time.Second))
	d.SetLag(5 * time.Second)
	if err := d.Delete(ctx, podNamed(t, mustPods(t, d), "pod-1")); err != nil {
		t.Fatal(err)
	}
	if at, ok := d.NextEvent(); !ok || !at.Equal(t0.Add(65*time.Second)) {
		t.Fatalf("lagged: NextEvent = %v %v, want t0+65s (the delete, seen 5s late)", at, ok)
	}
	clk.SetTime(t0.Add(65 * time.Second))
	if at, ok := d.NextEvent(); !ok || !at.Equal(t0.Add(68*time.Second)) {
		t.Fatalf("lagged: NextEvent = %v %v, want t0+68s (the pod gone, seen 5s late)", at, ok)
	}
}
