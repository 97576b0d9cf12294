package upgrade_test

import (
	"context"
	"fmt"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/upgradetest"
	"github.com/rollgate/rollgate/verify"
)

// The design's example 3.1, as it sits under spec:.
const designSpec = `
rollingUpdate:
  maxSurge: 1
  maxUnavailable: 0
  partition: 0
  timeout: 300s
preUpgradeCheck:
  enabled: true
  type: health-check
  timeout: 30s
postUpgradeVerify:
  enabled: true
  type: exec
  command: redis-cli ping
  expected: PONG
rollback:
  enabled: true
  onFailure: true
  limit: 3
`

func ExampleParseSpec() {
	spec, err := upgrade.ParseSpec([]byte(designSpec))
	if err != nil {
		fmt.Println(err)
		return
	}
	surge, unavailable := spec.Budget(5)
	fmt.Println("budget for 5 replicas:", surge, unavailable)
	fmt.Println("post-upgrade check:", spec.PostUpgradeVerify.Type, spec.PostUpgradeVerify.Command)

	_, err = upgrade.ParseSpec([]byte("rollingUpdate:\n  maxSurge: 0\n  maxUnavailable: 0\n"))
	fmt.Println(err)
	// Output:
	// budget for 5 replicas: 1 0
	// post-upgrade check: exec redis-cli ping
	// upgrade: invalid spec: spec.rollingUpdate.maxUnavailable: Invalid value: "0": may not be 0 when maxSurge is 0
}

// A reconcile loop: read the status, Step, persist the status, requeue.
func ExampleUpgrader_Step() {
	ctx := context.Background()
	clock := clocktesting.NewFakeClock(time.Date(2025, 1, 19, 10, 0, 0, 0, time.UTC))
	driver := upgradetest.NewDriver(clock, upgradetest.WithName("redis"), upgradetest.WithReplicas(3, "7.4"),
		upgradetest.WithExec(func(verify.Target, string) (string, error) { return "PONG", nil }))
	spec, _ := upgrade.ParseSpec([]byte(designSpec))

	var persisted status.Status // what the operator stores in its CRD status
	for {
		u, err := upgrade.New(driver, spec, upgrade.WithClock(clock))
		if err != nil {
			fmt.Println(err)
			return
		}
		st := persisted.DeepCopy()
		res, err := u.Step(ctx, st, upgrade.Desired{Version: "7.4.1", Replicas: 3})
		persisted = *st // persist whatever Step returned
		if err != nil {
			fmt.Println("step:", err)
		}
		if res.Done {
			break
		}
		clock.Step(res.RequeueAfter) // a real controller requeues after RequeueAfter
	}
	fmt.Println(persisted.Phase, persisted.CurrentVersion, persisted.UpgradeStatus.Phase, persisted.UpgradeStatus.UpdatedReplicas)
	// Output: Running 7.4.1 Completed 3
}

// A dry run: what the next Step would do.
func ExampleUpgrader_Plan() {
	clock := clocktesting.NewFakeClock(time.Date(2025, 1, 19, 10, 0, 0, 0, time.UTC))
	driver := upgradetest.NewDriver(clock, upgradetest.WithName("redis"), upgradetest.WithReplicas(5, "7.4"))
	spec, _ := upgrade.ParseSpec([]byte("rollingUpdate:\n  partition: 3\n  maxUnavailable: 1\n"))
	u, _ := upgrade.New(driver, spec, upgrade.WithClock(clock))
	st := &status.Status{}
	_, _ = u.Step(context.Background(), st, upgrade.Desired{Version: "7.4.1", Replicas: 5}) // starts the attempt
	plan, _ := u.Plan(context.Background(), st, upgrade.Desired{Version: "7.4.1", Replicas: 5})
	fmt.Print(plan)
	// Output:
	// upgrade 7.4 -> 7.4.1 (InProgress)
	//   budget:  maxSurge 1, maxUnavailable 1
	//   order:   3, 4
	//   held:    0, 1, 2
	//   status:  pod redis-3 (slot 3): Creating since 2025-01-19T10:00:00Z (0s)
	//   next:
	//     - Create slot 3 version 7.4.1 (surge)
	//     - Delete slot 4 pod redis-4 version 7.4
}

// A manual rollback of an attempt in flight; it does not count toward the
// rollback limit.
func ExampleUpgrader_Rollback() {
	ctx := context.Background()
	clock := clocktesting.NewFakeClock(time.Date(2025, 1, 19, 10, 0, 0, 0, time.UTC))
	driver := upgradetest.NewDriver(clock, upgradetest.WithName("redis"), upgradetest.WithReplicas(3, "7.4"))
	spec, _ := upgrade.ParseSpec(nil)
	u, _ := upgrade.New(driver, spec, upgrade.WithClock(clock))
	st := &status.Status{}
	want := upgrade.Desired{Version: "7.4.1", Replicas: 3}
	for i := 0; i < 3; i++ {
		res, _ := u.Step(ctx, st, want)
		clock.Step(res.RequeueAfter)
	}
	if err := u.Rollback(ctx, st, "latency regression seen on the canary"); err != nil {
		fmt.Println(err)
		return
	}
	for {
		res, _ := u.Step(ctx, st, want)
		if res.Done {
			break
		}
		clock.Step(res.RequeueAfter)
	}
	fmt.Println(st.Phase, st.CurrentVersion, st.UpgradeStatus.Phase, st.RollbackCount)
	// Output: Running 7.4 RolledBack 0
}

// LongestFirst: the driver estimates each pod's transition (here from the
// data it holds); the slowest slots start first, the primary's last, so
// that one slow pod does not start last and finish long after the rest.
func ExamplePlan_longestFirst() {
	ctx := context.Background()
	clock := clocktesting.NewFakeClock(time.Date(2025, 1, 19, 10, 0, 0, 0, time.UTC))
	gib := []int{2, 40, 8, 40, 1} // data per pod; about 5 s per GiB to load
	driver := upgradetest.NewDriver(clock, upgradetest.WithName("kafka"), upgradetest.WithReplicas(5, "3.8"),
		upgradetest.WithPrimary(3),
		upgradetest.WithEstimate(func(p upgrade.Pod) time.Duration { return 30*time.Second + time.Duration(gib[p.Index])*5*time.Second }))
	spec, _ := upgrade.ParseSpec([]byte("rollingUpdate:\n  order: LongestFirst\n  maxSurge: 0\n  maxUnavailable: 2\n"))
	u, _ := upgrade.New(driver, spec, upgrade.WithClock(clock))
	var st status.Status
	p, _ := u.Plan(ctx, &st, upgrade.Desired{Version: "3.9", Replicas: 5})
	fmt.Println("order:", p.Order)
	// Output:
	// order: [1 2 0 4 3]
}
