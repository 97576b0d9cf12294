// Package sim runs whole upgrades on the in-memory driver
// (upgrade/upgradetest) in fake time and measures how well the engine uses
// its budget.
//
// # The model
//
// Every slot i of a group of N gets three durations drawn from a seeded
// distribution (Family): start_i (Create until Ready), verify_i (Ready
// until the post-upgrade verification passes: a replica catching up, a
// warm-up) and terminate_i (Delete until the old pod is gone).
//
// The pod time of slot i is p_i = terminate_i + start_i + verify_i. It is
// how long the slot holds one unit of the budget, whichever kind: in place
// (a maxUnavailable unit) the old pod is deleted, must be gone before its
// successor of the same name can be created, and the successor must be
// ready and verified before the slot counts as available again; with surge
// (a maxSurge unit) the new pod is created beside the old one, the old one
// is deleted once the new one is verified, and it counts toward
// replicas+maxSurge until it is gone. Either way the unit is held for
// exactly p_i, and the upgrade completes when the last old pod is gone.
//
// With c = maxSurge + maxUnavailable (resolved against N) units, no
// schedule of the N pod times can finish before
//
//	bound = max(max_i p_i, Σ p_i / c)
//
// (each pod needs its own time; the units can do at most c pod times at
// once). The same durations give the baselines:
//
//   - one at a time: Σ p_i (a StatefulSet's RollingUpdate, Strimzi's
//     broker-by-broker roll);
//   - rigid batches of c: Σ over consecutive batches of c slots of the
//     batch's longest p_i (start c pods, wait for all, start the next c);
//   - greedy: ideal list scheduling in the engine's order, each pod
//     starting the instant a unit frees, with no overhead at all (Graham's
//     list scheduling; within max p_i·(1−1/c) of the bound);
//   - LPT: list scheduling longest pod time first, which needs every p_i
//     in advance.
//
// # Order and estimates
//
// The engine starts slots in the spec's rollingUpdate.order
// (Scenario.Order). Under LongestFirst it reads each pod's
// upgrade.Pod.Estimate, which the simulated driver fills in when
// Scenario.Estimates is set: slot i's old pod reports p_i·exp(σ·Z), Z a
// standard normal drawn from the scenario's seed on a stream of its own
// and σ = Scenario.EstimateNoise (0: exact), and a pod at the new version
// reports 0. So a controller that knows the durations exactly (σ = 0)
// meets LPT, and σ = 0.25 or 0.5 show how good its estimate must be. The
// greedy baseline follows the same order, estimates included.
//
// # Verification
//
// Two models of verify_i (Scenario.VerifyInterval):
//
//   - gated (interval 0, the default): the application's readiness
//     includes what the verification waits for, so the pod turns Ready
//     after start_i + verify_i and the verifier passes at its first call.
//     The engine sees no difference between "starting" and "catching up".
//   - polled (interval > 0): the pod turns Ready after start_i; the
//     verifier answers a *verify.FailedError ("not yet") until verify_i
//     has passed since, and the engine asks again every interval (the
//     failure threshold is raised so that "not yet" never fails the pod).
//     Each pod then pays up to one interval on top of p_i: the cost of a
//     polling verifier, not of the schedule.
//
// # Time
//
// Nothing happens by itself in fake time. After each Step the simulator
// moves the clock to the earlier of the Step's Result.RequeueAfter and the
// driver's next scheduled change (Driver.NextEvent: a pod turning Ready,
// an old pod going away), as a controller woken by watch events would;
// RequeueAfter 0 steps again at once. So the makespan measures the
// engine's decisions, not a polling period.
package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/upgradetest"
	"github.com/rollgate/rollgate/verify"
)

// Scenario is one simulated upgrade.
type Scenario struct {
	// Replicas is the group size N.
	Replicas int32
	// MaxSurge and MaxUnavailable are the spec's budgets (int or percent).
	MaxSurge, MaxUnavailable intstr.IntOrString
	// Durations are the distributions the pod times are drawn from.
	Durations Family
	// VerifyInterval selects the verification model: 0 gated (verify
	// time folded into readiness), > 0 polled at this interval.
	VerifyInterval time.Duration
	// Order is the spec's rollingUpdate.order ("": the default,
	// Ordinal).
	Order upgrade.Order
	// Estimates makes the driver report an estimate of each old pod's
	// pod time as its upgrade.Pod.Estimate (Pod.Estimate); pods at the
	// new version report 0. Without it every Estimate is 0. Only the
	// LongestFirst order reads estimates.
	Estimates bool
	// EstimateNoise is σ, the spread of the estimates' error: slot i's
	// estimate is p_i·exp(σ·Z) with Z ~ N(0,1). 0: exact estimates. It
	// needs Estimates.
	EstimateNoise float64
	// Seed seeds the draws. The durations come from one stream and the
	// estimates' errors from another, so a scenario draws the same
	// durations with or without estimates, and the same Z whatever σ.
	Seed uint64
	// Check runs the invariant checker (upgradetest.Checker) after every
	// Step; the run fails on a violation.
	Check bool
}

// Budget returns the scenario's budget as written ("1/0", "25%/0").
func (s Scenario) Budget() string {
	return s.MaxSurge.String() + "/" + s.MaxUnavailable.String()
}

// Spec returns the upgrade spec the scenario runs.
func (s Scenario) Spec() upgrade.Spec {
	surge, unav := s.MaxSurge, s.MaxUnavailable
	spec := upgrade.Spec{RollingUpdate: upgrade.RollingUpdate{
		MaxSurge:       &surge,
		MaxUnavailable: &unav,
		Order:          s.Order,
		// Never time out: a long tail is slow, not broken.
		Timeout: &metav1.Duration{Duration: 24 * time.Hour},
	}}
	if s.VerifyInterval > 0 {
		spec.PostUpgradeVerify = verify.Check{
			Enabled:          true,
			Type:             verify.TypeHealthCheck, // replaced by the simulated verifier
			Interval:         &metav1.Duration{Duration: s.VerifyInterval},
			FailureThreshold: 1 << 30,
		}
	}
	spec.Default()
	return spec
}

// Concurrency returns c = maxSurge + maxUnavailable resolved against N.
func (s Scenario) Concurrency() int32 {
	spec := s.Spec()
	surge, unav := spec.Budget(s.Replicas)
	return surge + unav
}

// Pod is one slot's drawn durations.
type Pod struct {
	// Start (Create until Ready), Terminate (Delete until gone) and
	// Verify (Ready until the verification passes).
	Start, Terminate, Verify time.Duration
	// Poll is the verification interval of a polled verifier (0: gated).
	Poll time.Duration
	// Estimate is what the driver reports as the slot's old pod's
	// upgrade.Pod.Estimate: Time() with the scenario's estimate noise;
	// 0 without Scenario.Estimates.
	Estimate time.Duration
}

// Time is the pod time: how long the slot holds a unit of the budget,
// terminate + start + verify. A polled verifier (Poll > 0) first runs when
// the pod turns Ready and then every Poll, so the verify time it can see
// is verify rounded up to a multiple of Poll.
func (p Pod) Time() time.Duration { return p.Terminate + p.Start + p.SeenVerify() }

// SeenVerify is the verify time as the verifier can observe it.
func (p Pod) SeenVerify() time.Duration {
	if p.Poll <= 0 || p.Verify <= 0 {
		return p.Verify
	}
	return (p.Verify + p.Poll - 1) / p.Poll * p.Poll
}

// Draw returns the scenario's pod durations, slot by slot, and with
// Estimates their estimates.
func (s Scenario) Draw() []Pod {
	r := rand.New(rand.NewPCG(s.Seed, 0x726f6c6c67617465)) // "rollgate"
	pods := make([]Pod, s.Replicas)
	for i := range pods {
		pods[i] = Pod{
			Start:     s.Durations.Start.Draw(r),
			Terminate: s.Durations.Terminate.Draw(r),
			Verify:    s.Durations.Verify.Draw(r),
			Poll:      max(s.VerifyInterval, 0),
		}
	}
	if s.Estimates {
		// A stream of its own: the durations above are those drawn
		// without estimates, and every σ scales the same Z.
		e := rand.New(rand.NewPCG(s.Seed, 0x657374696d617465)) // "estimate"
		for i := range pods {
			z := e.NormFloat64()
			pods[i].Estimate = pods[i].Time()
			if s.EstimateNoise != 0 {
				pods[i].Estimate = time.Duration(float64(pods[i].Time()) * math.Exp(s.EstimateNoise*z))
			}
		}
	}
	return pods
}

// validate refuses a scenario whose estimate settings contradict.
func (s Scenario) validate() error {
	switch {
	case s.EstimateNoise < 0 || math.IsNaN(s.EstimateNoise) || math.IsInf(s.EstimateNoise, 0):
		return fmt.Errorf("sim: estimate noise %g: want a finite σ ≥ 0", s.EstimateNoise)
	case s.EstimateNoise > 0 && !s.Estimates:
		return fmt.Errorf("sim: estimate noise %g without Estimates", s.EstimateNoise)
	case !s.Order.Valid():
		return fmt.Errorf("sim: unknown order %q", s.Order)
	}
	return nil
}

// InOrder returns the pods in the order the engine starts their slots
// under o when every old pod is ready and none holds the primary role (as
// in the simulator): slot order for Ordinal and PrimaryLast, the reverse
// for ReverseOrdinal, and for LongestFirst the longest Estimate first,
// equal estimates in slot order.
func InOrder(pods []Pod, o upgrade.Order) []Pod {
	out := slices.Clone(pods)
	switch o {
	case upgrade.ReverseOrdinal:
		slices.Reverse(out)
	case upgrade.LongestFirst:
		slices.SortStableFunc(out, func(a, b Pod) int { return cmp.Compare(b.Estimate, a.Estimate) })
	}
	return out
}

// Bound is max(longest pod time, total pod time / c): no schedule with c
// units finishes sooner.
func Bound(pods []Pod, c int32) time.Duration {
	var total, longest time.Duration
	for _, p := range pods {
		total += p.Time()
		longest = max(longest, p.Time())
	}
	if c < 1 {
		c = 1
	}
	return max(longest, total/time.Duration(c))
}

// OneAtATime is the makespan of upgrading the pods strictly one after the
// other.
func OneAtATime(pods []Pod) time.Duration {
	var total time.Duration
	for _, p := range pods {
		total += p.Time()
	}
	return total
}

// RigidBatches is the makespan of upgrading consecutive batches of c pods,
// each batch starting when the previous one has entirely finished.
func RigidBatches(pods []Pod, c int32) time.Duration {
	if c < 1 {
		c = 1
	}
	var total time.Duration
	for i := 0; i < len(pods); i += int(c) {
		var longest time.Duration
		for _, p := range pods[i:min(i+int(c), len(pods))] {
			longest = max(longest, p.Time())
		}
		total += longest
	}
	return total
}

// Greedy is the makespan of ideal list scheduling: the pods in the order
// given, each starting the instant one of c units frees.
func Greedy(pods []Pod, c int32) time.Duration {
	if c < 1 {
		c = 1
	}
	free := make([]time.Duration, min(int(c), len(pods)))
	var end time.Duration
	for _, p := range pods {
		k := 0
		for j := range free {
			if free[j] < free[k] {
				k = j
			}
		}
		free[k] += p.Time()
		end = max(end, free[k])
	}
	return end
}

// LPT is the makespan of longest-processing-time-first list scheduling: a
// clairvoyant scheduler that knows every pod time in advance and starts
// the longest first (within 4/3 of the optimum). It shows how much of the
// gap to the bound no schedule in slot order, or no schedule at all, can
// close.
func LPT(pods []Pod, c int32) time.Duration {
	sorted := slices.Clone(pods)
	slices.SortStableFunc(sorted, func(a, b Pod) int { return cmp.Compare(b.Time(), a.Time()) })
	return Greedy(sorted, c)
}

// Outcome is one simulated upgrade.
type Outcome struct {
	Scenario Scenario
	Pods     []Pod
	// C is maxSurge + maxUnavailable resolved against N.
	C int32
	// Makespan is the fake time from the first Step to the Step that
	// reported the upgrade Completed.
	Makespan time.Duration
	// Bound, OneAtATime, RigidBatches, Greedy and LPT are computed from
	// Pods: RigidBatches in slot order, Greedy in the engine's order
	// (InOrder with the scenario's order: by the estimates under
	// LongestFirst).
	Bound, OneAtATime, RigidBatches, Greedy, LPT time.Duration
	// Steps is how many Steps ran; Lists, Creates, Deletes and Verifies
	// count the driver calls (Lists = Steps: one Pods call each) and the
	// verifier's calls.
	Steps, Lists, Creates, Deletes, Verifies int
	// TimerSteps counts the Steps woken by Result.RequeueAfter running
	// out with no pod change due before it (a controller woken by watch
	// events makes these only as a fallback); the others ran at once
	// (RequeueAfter 0) or at a pod change.
	TimerSteps int
	// PeakPods and PeakUnavailable are the most pods listed and the most
	// slots without a ready pod seen after any Step.
	PeakPods, PeakUnavailable int
}

// Ratio returns d / o.Bound.
func (o Outcome) Ratio(d time.Duration) float64 { return float64(d) / float64(o.Bound) }

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Run simulates the scenario's upgrade from v1 to v2 and measures it.
func Run(ctx context.Context, s Scenario) (Outcome, error) {
	if err := s.validate(); err != nil {
		return Outcome{Scenario: s}, err
	}
	pods := s.Draw()
	c := s.Concurrency()
	out := Outcome{
		Scenario: s, Pods: pods, C: c,
		Bound: Bound(pods, c), OneAtATime: OneAtATime(pods),
		RigidBatches: RigidBatches(pods, c), Greedy: Greedy(InOrder(pods, s.Order), c), LPT: LPT(pods, c),
	}
	const from, to = "v1", "v2"
	gated := s.VerifyInterval <= 0
	clk := clocktesting.NewFakeClock(t0)
	opts := []upgradetest.Option{
		upgradetest.WithReplicas(s.Replicas, from),
		upgradetest.WithPrimary(-1),
		upgradetest.WithStartDelay(func(i int32, v string) time.Duration {
			if v == to && gated {
				return pods[i].Start + pods[i].Verify
			}
			return pods[i].Start
		}),
		upgradetest.WithTerminationDelay(func(p upgrade.Pod) time.Duration { return pods[p.Index].Terminate }),
	}
	if s.Estimates {
		opts = append(opts, upgradetest.WithEstimate(func(p upgrade.Pod) time.Duration {
			if p.Version != from {
				return 0 // upgraded: nothing left to estimate
			}
			return pods[p.Index].Estimate
		}))
	}
	d := upgradetest.NewDriver(clk, opts...)
	verifies := 0
	verifier := verify.Func(func(ctx context.Context, t verify.Target) error {
		verifies++
		if gated {
			return nil
		}
		return polled(d, clk, pods, t)
	})
	spec := s.Spec()
	// The engine's lists measure the peaks: a Step that wrote asks to run
	// again at once, so every state after a Step is listed.
	lists := &listing{d: d, out: &out}
	u, err := upgrade.New(lists, spec, upgrade.WithClock(clk), upgrade.WithPostUpgradeVerifier(verifier))
	if err != nil {
		return out, err
	}
	var checker *upgradetest.Checker
	if s.Check {
		checker = upgradetest.NewChecker(spec, s.Replicas, from, to)
	}
	var st status.Status
	want := upgrade.Desired{Version: to, Replicas: s.Replicas}
	limit := 200*int(s.Replicas) + 1000
	for {
		if out.Steps >= limit {
			return out, fmt.Errorf("sim: no completion after %d steps (%s)", out.Steps, phase(&st))
		}
		res, err := u.Step(ctx, &st, want)
		out.Steps++
		if err != nil {
			return out, fmt.Errorf("sim: step %d: %w", out.Steps, err)
		}
		if checker != nil {
			if err := checker.CheckStep(&st, d); err != nil {
				return out, fmt.Errorf("sim: step %d: %w", out.Steps, err)
			}
		}
		d.ClearActions() // the log keeps every listed pod of every write
		if res.Done {
			break
		}
		if res.RequeueAfter <= 0 {
			continue
		}
		next := clk.Now().Add(res.RequeueAfter)
		if at, ok := d.NextEvent(); ok && !next.Before(at) {
			next = at
		} else {
			out.TimerSteps++
		}
		clk.SetTime(next)
	}
	if us := st.UpgradeStatus; us == nil || us.Phase != status.UpgradeCompleted {
		return out, fmt.Errorf("sim: upgrade ended %s", phase(&st))
	}
	out.Makespan = clk.Now().Sub(t0)
	out.Lists = d.Calls(upgradetest.ActionPods)
	out.Creates = d.Calls(upgradetest.ActionCreate)
	out.Deletes = d.Calls(upgradetest.ActionDelete)
	out.Verifies = verifies
	return out, nil
}

func phase(st *status.Status) string {
	if st.UpgradeStatus == nil {
		return "without an attempt"
	}
	return fmt.Sprintf("%s: %s", st.UpgradeStatus.Phase, st.UpgradeStatus.Message)
}

// listing is the driver as the engine sees it; it measures every list.
type listing struct {
	d   *upgradetest.Driver
	out *Outcome
}

func (l *listing) Pods(ctx context.Context) ([]upgrade.Pod, error) {
	pods, err := l.d.Pods(ctx)
	if err == nil {
		l.out.measure(pods)
	}
	return pods, err
}

func (l *listing) Create(ctx context.Context, index int32, version string, surge bool) error {
	return l.d.Create(ctx, index, version, surge)
}

func (l *listing) Delete(ctx context.Context, pod upgrade.Pod) error { return l.d.Delete(ctx, pod) }

func (o *Outcome) measure(pods []upgrade.Pod) {
	o.PeakPods = max(o.PeakPods, len(pods))
	ready := make([]bool, o.Scenario.Replicas)
	for _, p := range pods {
		if p.Ready && !p.Terminating {
			ready[p.Index] = true
		}
	}
	n := 0
	for _, r := range ready {
		if !r {
			n++
		}
	}
	o.PeakUnavailable = max(o.PeakUnavailable, n)
}

// polled answers "not yet" (a *verify.FailedError) until verify_i has
// passed since the pod turned Ready.
func polled(d *upgradetest.Driver, clk *clocktesting.FakeClock, pods []Pod, t verify.Target) error {
	p, ok := d.Pod(t.Name)
	if !ok {
		return errors.New("pod not found")
	}
	if clk.Now().Before(p.Created.Add(pods[t.Index].Start + pods[t.Index].Verify)) {
		return &verify.FailedError{Type: verify.TypeCustom, Pod: t.Name, Reason: "not caught up yet"}
	}
	return nil
}
