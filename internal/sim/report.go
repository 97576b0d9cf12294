package sim

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rollgate/rollgate/upgrade"
)

// Stat is a ratio to the bound over the seeds of a row: mean and worst.
type Stat struct{ Mean, Max float64 }

func (s *Stat) add(v float64, n int) {
	s.Mean += v / float64(n)
	s.Max = max(s.Max, v)
}

func (s Stat) String() string {
	if s.Max-s.Mean < 0.005 {
		return fmt.Sprintf("%.2f", s.Mean)
	}
	return fmt.Sprintf("%.2f (%.2f)", s.Mean, s.Max)
}

// Row summarizes one scenario over several seeds.
type Row struct {
	Scenario Scenario
	C        int32
	Seeds    int
	// Engine, Greedy, LPT, OneAtATime and Rigid are makespans divided by
	// the bound of the same draw (Greedy in the engine's order, see
	// Outcome).
	Engine, Greedy, LPT, OneAtATime, Rigid Stat
	// Makespan and Bound are means over the seeds.
	Makespan, Bound time.Duration
	// Per pod, means over the seeds: Steps (= Pods lists), driver writes
	// (Create + Delete) and verifier calls.
	StepsPerPod, TimerStepsPerPod, WritesPerPod, VerifiesPerPod float64
	// BeatsRigid: the engine finished no later than rigid batches (in
	// index order) for every seed; NoWorseThanGreedy likewise against
	// ideal greedy (in the engine's order).
	BeatsRigid, NoWorseThanGreedy bool
	// BudgetKept: peak pods and peak unavailable slots stayed within
	// N+maxSurge and maxUnavailable for every seed.
	BudgetKept bool
}

// Summarize runs s with seeds s.Seed, s.Seed+1, ... s.Seed+seeds-1.
func Summarize(ctx context.Context, s Scenario, seeds int) (Row, error) {
	row := Row{Scenario: s, C: s.Concurrency(), Seeds: seeds, BeatsRigid: true, NoWorseThanGreedy: true, BudgetKept: true}
	spec := s.Spec()
	surge, unav := spec.Budget(s.Replicas)
	n := float64(s.Replicas)
	for k := range seeds {
		sc := s
		sc.Seed = s.Seed + uint64(k)
		o, err := Run(ctx, sc)
		if err != nil {
			return row, fmt.Errorf("%s seed %d: %w", Name(s), sc.Seed, err)
		}
		row.Engine.add(o.Ratio(o.Makespan), seeds)
		row.Greedy.add(o.Ratio(o.Greedy), seeds)
		row.LPT.add(o.Ratio(o.LPT), seeds)
		row.OneAtATime.add(o.Ratio(o.OneAtATime), seeds)
		row.Rigid.add(o.Ratio(o.RigidBatches), seeds)
		row.Makespan += o.Makespan / time.Duration(seeds)
		row.Bound += o.Bound / time.Duration(seeds)
		row.StepsPerPod += float64(o.Steps) / n / float64(seeds)
		row.TimerStepsPerPod += float64(o.TimerSteps) / n / float64(seeds)
		row.WritesPerPod += float64(o.Creates+o.Deletes) / n / float64(seeds)
		row.VerifiesPerPod += float64(o.Verifies) / n / float64(seeds)
		row.BeatsRigid = row.BeatsRigid && o.Makespan <= o.RigidBatches
		row.NoWorseThanGreedy = row.NoWorseThanGreedy && o.Makespan <= o.Greedy
		row.BudgetKept = row.BudgetKept && o.PeakPods <= int(s.Replicas+surge) && o.PeakUnavailable <= int(unav)
	}
	return row, nil
}

// Name names a scenario: "uniform N=120 1/1", "long-tail N=12 0/3
// longest first, σ 0.25".
func Name(s Scenario) string {
	name := fmt.Sprintf("%s N=%d %s", s.Durations.Name, s.Replicas, s.Budget())
	if s.VerifyInterval > 0 {
		name += " polled " + s.VerifyInterval.String()
	}
	if (s.Order != "" && s.Order != upgrade.Ordinal) || s.Estimates {
		name += " " + OrderLabel(s)
	}
	return name
}

// OrderLabel names a scenario's order and estimates: "index" (Ordinal),
// "reverse", "primary last", "longest first, exact" (estimates with σ =
// 0), "longest first, σ 0.25"; "no estimates" when an order that reads
// them has none.
func OrderLabel(s Scenario) string {
	var label string
	switch s.Order {
	case "", upgrade.Ordinal:
		label = "index"
	case upgrade.ReverseOrdinal:
		label = "reverse"
	case upgrade.PrimaryLast:
		label = "primary last"
	case upgrade.LongestFirst:
		label = "longest first"
	default:
		label = string(s.Order)
	}
	switch {
	case s.Estimates && s.EstimateNoise == 0:
		label += ", exact"
	case s.Estimates:
		label += fmt.Sprintf(", σ %g", s.EstimateNoise)
	case s.Order == upgrade.LongestFirst:
		label += ", no estimates"
	}
	return label
}

func n(i int) intstr.IntOrString      { return intstr.FromInt32(int32(i)) }
func pct(s string) intstr.IntOrString { return intstr.FromString(s) }

// EstimateNoises are the estimate errors σ the suite's LongestFirst rows
// run with: exact, and log-normal errors of σ 0.25 (about ±25 %) and 0.5.
var EstimateNoises = []float64{0, 0.25, 0.5}

// Suite returns the standard scenarios: each duration family at N = 12
// and 120 under one-at-a-time (0/1), the default (1/0), a StatefulSet's
// maxUnavailable 3 (0/3), mixed budgets (1/1, 2/2), 25% surge, and 1,000
// pods at 0/3 and 10% surge, all in index order; then polled verification
// at 1 s and 5 s under surge budgets. Where index order stays furthest
// from the bound (random durations, N/c ≤ 10: N = 12 at 0/3, 1/1 and 2/2,
// N = 120 at 25%, N = 1,000 at 10%), each row is followed by the same
// scenario under LongestFirst with estimates of each EstimateNoise.
// large adds the 1,000-pod rows.
func Suite(large bool) []Scenario {
	type b struct{ surge, unav intstr.IntOrString }
	small := []b{{n(0), n(1)}, {n(1), n(0)}, {n(0), n(3)}, {n(1), n(1)}, {n(2), n(2)}}
	var out []Scenario
	add := func(s Scenario) {
		out = append(out, s)
		if s.Durations.Name == FixedDurations.Name || s.Concurrency() < 2 || int(s.Replicas) > 10*int(s.Concurrency()) {
			return
		}
		for _, sigma := range EstimateNoises {
			lf := s
			lf.Order, lf.Estimates, lf.EstimateNoise = upgrade.LongestFirst, true, sigma
			out = append(out, lf)
		}
	}
	for _, f := range []Family{FixedDurations, UniformDurations, LongTailDurations} {
		for _, x := range small {
			add(Scenario{Replicas: 12, MaxSurge: x.surge, MaxUnavailable: x.unav, Durations: f, Seed: 1})
		}
		for _, x := range append(small[1:], b{pct("25%"), n(0)}) {
			add(Scenario{Replicas: 120, MaxSurge: x.surge, MaxUnavailable: x.unav, Durations: f, Seed: 1})
		}
		if large {
			for _, x := range []b{{n(0), n(3)}, {pct("10%"), n(0)}} {
				add(Scenario{Replicas: 1000, MaxSurge: x.surge, MaxUnavailable: x.unav, Durations: f, Seed: 1})
			}
		}
	}
	// Polled verification, under surge budgets (in place, a slot holds
	// its maxUnavailable unit until its verification passes too; the
	// tests run one).
	for _, iv := range []time.Duration{time.Second, 5 * time.Second} {
		for _, x := range []b{{n(1), n(0)}, {pct("25%"), n(0)}} {
			out = append(out, Scenario{Replicas: 120, MaxSurge: x.surge, MaxUnavailable: x.unav, Durations: UniformDurations, VerifyInterval: iv, Seed: 1})
		}
	}
	return out
}

// SeedsFor is how many seeds a scenario of the suite is run with: one for
// fixed durations (every seed draws the same), fewer for large groups.
func SeedsFor(s Scenario, seeds int) int {
	switch {
	case s.Durations.Name == FixedDurations.Name:
		return 1
	case s.Replicas >= 1000:
		return max(1, seeds/10)
	}
	return seeds
}

// WriteTable writes rows as a Markdown table.
func WriteTable(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString("| durations | N | surge/unav | c | verify | order / estimate | seeds | bound (mean) | **engine** | ideal greedy | clairvoyant LPT | rigid batches of c | one at a time | steps/pod (timer) | writes/pod | verifies/pod |\n")
	b.WriteString("|---|--:|:-:|--:|:-:|:-:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rows {
		s := r.Scenario
		v := "gated"
		if s.VerifyInterval > 0 {
			v = "polled " + s.VerifyInterval.String()
		}
		eng := r.Engine.String()
		if !r.BeatsRigid {
			eng += " ✗rigid"
		}
		if !r.NoWorseThanGreedy {
			eng += " ✗greedy"
		}
		if !r.BudgetKept {
			eng += " ✗budget"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %s | %s | %d | %s | **%s** | %s | %s | %s | %s | %.1f (%.1f) | %.1f | %.1f |\n",
			s.Durations.Name, s.Replicas, s.Budget(), r.C, v, OrderLabel(s), r.Seeds, r.Bound.Round(time.Second),
			eng, r.Greedy, r.LPT, r.Rigid, r.OneAtATime, r.StepsPerPod, r.TimerStepsPerPod, r.WritesPerPod, r.VerifiesPerPod)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
