package upgradetest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/upgradetest"
)

func printPods(d *upgradetest.Driver) {
	for _, p := range d.Truth() {
		fmt.Printf("  %s slot=%d %s ready=%t primary=%t terminating=%t\n", p.Name, p.Index, p.Version, p.Ready, p.Primary, p.Terminating)
	}
}

// A surge replacement of one slot, done by hand as an engine would, with
// the invariants checked after every act. Time passes only when the test
// steps the fake clock.
func Example() {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	d := upgradetest.NewDriver(clk,
		upgradetest.WithName("redis"),
		upgradetest.WithReplicas(2, "7.0"),
		upgradetest.WithStartDelay(func(index int32, version string) time.Duration { return 10 * time.Second }),
		upgradetest.WithTerminationDelay(func(upgrade.Pod) time.Duration { return 5 * time.Second }),
	)
	spec, _ := upgrade.ParseSpec([]byte("rollingUpdate: {maxSurge: 1, maxUnavailable: 0}"))
	c := upgradetest.NewChecker(spec, 2, "7.0", "7.2")
	st := &status.Status{Phase: status.PhaseUpgrading, CurrentVersion: "7.0", UpgradeStatus: &status.UpgradeStatus{
		Phase: status.UpgradeInProgress, FromVersion: "7.0", ToVersion: "7.2", TotalReplicas: 2}}
	check := func() {
		if err := c.CheckStep(st, d); err != nil {
			fmt.Println("violation:", err)
		}
	}

	_ = d.Create(ctx, 1, "7.2", true)
	check()
	fmt.Println("just created:")
	printPods(d)

	clk.Step(10 * time.Second)
	old, _ := d.Pod("redis-1")
	_ = d.Delete(ctx, old)
	check()
	fmt.Println("new pod ready, old one deleted:")
	printPods(d)

	clk.Step(5 * time.Second)
	check()
	fmt.Println("old pod gone:")
	printPods(d)
	fmt.Println("violations:", c.Err())
	for _, a := range d.Actions() {
		fmt.Println(a)
	}
	// Output:
	// just created:
	//   redis-0 slot=0 7.0 ready=true primary=true terminating=false
	//   redis-1 slot=1 7.0 ready=true primary=false terminating=false
	//   redis-1-surge-1 slot=1 7.2 ready=false primary=false terminating=false
	// new pod ready, old one deleted:
	//   redis-0 slot=0 7.0 ready=true primary=true terminating=false
	//   redis-1 slot=1 7.0 ready=false primary=false terminating=true
	//   redis-1-surge-1 slot=1 7.2 ready=true primary=false terminating=false
	// old pod gone:
	//   redis-0 slot=0 7.0 ready=true primary=true terminating=false
	//   redis-1-surge-1 slot=1 7.2 ready=true primary=false terminating=false
	// violations: <nil>
	// #1 Create slot 1 at 7.2 surge -> redis-1-surge-1 (uid-3) effective
	// #2 Delete redis-1 (slot 1, 7.0, uid-2) effective
}

// The Checker catches an engine that stops more ready pods than
// maxUnavailable allows, and one that deletes a primary without failing it
// over first.
func ExampleChecker() {
	ctx := context.Background()
	d := upgradetest.NewDriver(nil, upgradetest.WithName("db"), upgradetest.WithReplicas(3, "v1"),
		upgradetest.WithTerminationDelay(func(upgrade.Pod) time.Duration { return time.Minute }))
	surge, unav := intstr.FromInt32(0), intstr.FromInt32(1)
	spec := upgrade.Spec{RollingUpdate: upgrade.RollingUpdate{MaxSurge: &surge, MaxUnavailable: &unav}}
	c := upgradetest.NewChecker(spec, 3, "v1", "v2")

	for _, name := range []string{"db-2", "db-0"} {
		p, _ := d.Pod(name)
		_ = d.Delete(ctx, p)
	}
	if err := c.CheckStep(nil, d); err != nil {
		for _, v := range c.Violations() {
			fmt.Printf("%s (slot %d): %s\n", v.Rule, v.Index, v.Message)
		}
	}
	// Output:
	// S5 (slot 0): deleted pod db-0 of slot 0 while it still held the primary role; fail over first and wait until the role has moved (action #2)
	// S2 (slot -1): 2 slots [0 2] have no ready pod after Delete db-0 because the upgrade deleted their pods; maxUnavailable is 1 (action #2)
}

// CheckStatus judges the status an engine wrote.
func ExampleChecker_CheckStatus() {
	c := upgradetest.NewChecker(upgrade.Spec{}, 3, "", "")
	now := metav1.Now()
	st := &status.Status{Phase: status.PhaseUpgrading, CurrentVersion: "v2", UpgradeStatus: &status.UpgradeStatus{
		Phase: status.UpgradeCompleted, FromVersion: "v1", ToVersion: "v2", CompletedAt: &now, TotalReplicas: 3, UpdatedReplicas: 3}}
	fmt.Println(c.CheckStatus(st, nil))
	// Output:
	// S6: phase "Upgrading" does not go with upgradeStatus.phase "Completed"
}

// A write whose reply is lost: the pod is deleted, the caller hears a
// timeout. The action log tells the two apart.
func ExampleDriver_InjectFault() {
	ctx := context.Background()
	d := upgradetest.NewDriver(nil, upgradetest.WithName("db"), upgradetest.WithReplicas(2, "v1"))
	d.InjectFault(upgradetest.CallFault{Kind: upgradetest.ActionDelete, AfterEffect: true, Err: context.DeadlineExceeded})

	p, _ := d.Pod("db-1")
	err := d.Delete(ctx, p)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	_, exists := d.Pod("db-1")
	fmt.Println("db-1 still exists:", exists)
	a := d.Deletes()[0]
	fmt.Println("effective:", a.Effective)
	// Output:
	// true
	// db-1 still exists: false
	// effective: true
}

// A reactor sees every call before the driver acts and may answer it
// itself, as client-go's testing.Fake reactors do.
func ExampleDriver_PrependReactor() {
	ctx := context.Background()
	d := upgradetest.NewDriver(nil, upgradetest.WithName("db"), upgradetest.WithReplicas(3, "v1"))
	d.PrependReactor(upgradetest.ActionCreate, func(a upgradetest.Action) (bool, error) {
		if a.Version == "v2" && a.Index == 2 {
			return true, errors.New("admission webhook denied the request")
		}
		return false, nil
	})
	fmt.Println(d.Create(ctx, 2, "v2", true))
	fmt.Println(d.Create(ctx, 1, "v2", true))
	fmt.Println(d.Versions())
	// Output:
	// admission webhook denied the request
	// <nil>
	// map[0:v1 1:v2 2:v1]
}

// A view that trails the writes by a few seconds, like an informer cache:
// an engine must not act twice on writes it cannot see yet.
func ExampleDriver_SetLag() {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	d := upgradetest.NewDriver(clk, upgradetest.WithName("db"), upgradetest.WithReplicas(2, "v1"))
	d.SetLag(2 * time.Second)
	_ = d.Create(ctx, 1, "v2", true)
	pods, _ := d.Pods(ctx)
	fmt.Println("listed now:", len(pods))
	clk.Step(2 * time.Second)
	pods, _ = d.Pods(ctx)
	fmt.Println("listed 2s later:", len(pods))
	// Output:
	// listed now: 2
	// listed 2s later: 3
}
