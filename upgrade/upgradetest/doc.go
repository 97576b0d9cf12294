// Package upgradetest helps test rolling-upgrade engines and the drivers
// they run on, in the manner of client-go's testing.Fake, net/http/httptest
// and testing/fstest.
//
// It holds three things:
//
//   - Driver, an in-memory upgrade.PodDriver (also upgrade.Failoverer and
//     verify.PodAccess) whose time is a k8s.io/utils/clock/testing.FakeClock.
//     Pods become ready, terminate and hand over the primary role when the
//     clock says so, evaluated lazily whenever the driver is asked, so tests
//     step the clock instead of sleeping. Every call is recorded in an action
//     log (Actions, Creates, Deletes...), and faults are injected
//     deterministically: errors on the nth call (before or after the write
//     takes effect), reactors that intercept calls, pods that never become
//     ready or fail with a reason, pods that crash (Kill) or vanish
//     (Remove), slow termination, stale or lagging Pods views.
//   - Checker, the invariants of a rolling upgrade (pod budget,
//     availability budget, partition, one replacement per transition,
//     failover before deleting a primary, versions, status consistency,
//     rollback count, broken pods first), to run after every
//     Upgrader.Step; and the liveness checks for when faults stop:
//     Settle and Stable (the group settles within a bound and stays),
//     CheckRolledBack and CheckSettled (it is what its status says).
//   - TestPodDriver, a conformance suite for authors of PodDrivers, run
//     against a live group through a Harness that knows how to let time
//     pass.
//
// A test of an engine typically reads:
//
//	clk := clocktesting.NewFakeClock(start)
//	d := upgradetest.NewDriver(clk, upgradetest.WithName("db"), upgradetest.WithReplicas(3, "v1"),
//		upgradetest.WithStartDelay(func(int32, string) time.Duration { return 10 * time.Second }))
//	u, _ := upgrade.New(d, spec, upgrade.WithClock(clk))
//	c := upgradetest.NewChecker(spec, 3, "v1", "v2")
//	st := &status.Status{}
//	for range 100 {
//		res, err := u.Step(ctx, st, upgrade.Desired{Version: "v2", Replicas: 3})
//		if err := c.CheckStep(st, d); err != nil {
//			t.Fatal(err)
//		}
//		if err := c.CheckStatus(st, d.Truth()); err != nil {
//			t.Fatal(err)
//		}
//		if res.Done {
//			break
//		}
//		clk.Step(max(res.RequeueAfter, time.Second))
//	}
//
// Nothing in the package sleeps on the wall clock or uses randomness.
package upgradetest
