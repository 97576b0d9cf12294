package sim

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rollgate/rollgate/upgrade"
)

func pods(times ...int) []Pod {
	var out []Pod
	for _, t := range times {
		out = append(out, Pod{Start: time.Duration(t) * time.Second})
	}
	return out
}

func TestBaselines(t *testing.T) {
	s := time.Second
	p := pods(5, 1, 1, 1, 4, 4)
	for _, tc := range []struct {
		name      string
		got, want time.Duration
	}{
		{"bound c=1", Bound(p, 1), 16 * s},
		{"bound c=2", Bound(p, 2), 8 * s},
		{"bound c=6: the longest pod", Bound(p, 6), 5 * s},
		{"one at a time", OneAtATime(p), 16 * s},
		{"rigid c=2: 5+1+4", RigidBatches(p, 2), 10 * s},
		{"rigid c=4: 5+4", RigidBatches(p, 4), 9 * s},
		{"greedy c=2: 5 | 1+1+1+4, then 4 after the 5", Greedy(p, 2), 9 * s},
		{"lpt c=2", LPT(p, 2), 8 * s},
		{"greedy c=3", Greedy(p, 3), 6 * s},
		{"lpt c=3", LPT(p, 3), 6 * s},
		{"greedy c=2 worst order", Greedy(pods(1, 1, 2), 2), 3 * s},
		{"lpt c=2", LPT(pods(1, 1, 2), 2), 2 * s},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// A polled verifier sees verify time rounded up to its interval.
	q := Pod{Start: s, Terminate: s, Verify: 2500 * time.Millisecond, Poll: s}
	if q.Time() != 5*s {
		t.Errorf("polled pod time %v, want 5s", q.Time())
	}
}

func TestDraw(t *testing.T) {
	s := Scenario{Replicas: 200, Durations: LongTailDurations, Seed: 7}
	a, b := s.Draw(), s.Draw()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("draws differ at %d: %v %v", i, a[i], b[i])
		}
	}
	s.Seed++
	if c := s.Draw(); c[0] == a[0] && c[1] == a[1] {
		t.Fatal("another seed draws the same")
	}
	var longest, total time.Duration
	for _, p := range a {
		longest = max(longest, p.Start)
		total += p.Start
	}
	if mean := total / time.Duration(len(a)); longest < 4*mean {
		t.Errorf("long tail: longest start %v is not far above the mean %v", longest, mean)
	}
}

// TestEngineSchedule runs whole upgrades in fake time, the invariant
// checker on, and holds the engine to the schedule it should achieve:
// within the budget, never slower than rigid batches, and no slower than
// ideal greedy list scheduling in its own order (the engine adds no
// latency of its own when woken at every pod change).
//
// Rigid batches take the slots in index order, as a controller that knows
// no durations would. In index order, and under LongestFirst with exact
// estimates, never being slower than them follows from greedy list
// scheduling (each pod starts no later than in rigid batches of the same
// order) and, for LPT, from sorted batches having the least sum of batch
// maxima. With noisy estimates only rigid batches in the estimates' order
// are a bound: an unlucky draw can do worse than index order's rigid
// batches (uniform N=12 1/1, σ 0.5, seed 4: 6m42.6s against 6m40.2s).
func TestEngineSchedule(t *testing.T) {
	ctx := context.Background()
	var scenarios []Scenario
	for _, f := range []Family{FixedDurations, UniformDurations, LongTailDurations} {
		for _, b := range [][2]int{{0, 1}, {1, 0}, {0, 3}, {1, 1}, {2, 2}} {
			for seed := uint64(1); seed <= 2; seed++ {
				scenarios = append(scenarios, Scenario{Replicas: 12, MaxSurge: n(b[0]), MaxUnavailable: n(b[1]), Durations: f, Seed: seed, Check: true})
			}
		}
	}
	scenarios = append(scenarios,
		Scenario{Replicas: 40, MaxSurge: pct("25%"), MaxUnavailable: n(0), Durations: LongTailDurations, Seed: 3, Check: true},
		Scenario{Replicas: 20, MaxSurge: n(2), MaxUnavailable: n(0), Durations: UniformDurations, VerifyInterval: 5 * time.Second, Seed: 4, Check: true},
		// In place, a slot keeps its maxUnavailable unit until its
		// verification passes, so the pod time model holds there too.
		Scenario{Replicas: 12, MaxSurge: n(1), MaxUnavailable: n(2), Durations: UniformDurations, VerifyInterval: 5 * time.Second, Seed: 5, Check: true},
	)
	scenarios = append(scenarios, longestFirst(true)...)
	scenarios = append(scenarios, Scenario{Replicas: 12, MaxSurge: n(1), MaxUnavailable: n(1), Durations: UniformDurations, Seed: 4, Check: true,
		Order: upgrade.LongestFirst, Estimates: true, EstimateNoise: 0.5})
	for _, s := range scenarios {
		o, err := Run(ctx, s)
		if err != nil {
			t.Fatalf("%s seed %d: %v", Name(s), s.Seed, err)
		}
		spec := s.Spec()
		surge, unav := spec.Budget(s.Replicas)
		rigid, of := o.RigidBatches, "in index order"
		if s.EstimateNoise > 0 {
			rigid, of = RigidBatches(InOrder(o.Pods, s.Order), o.C), "in the estimates' order"
		}
		switch {
		case o.Makespan < o.Bound:
			t.Errorf("%s seed %d: makespan %v beats the lower bound %v: the model is wrong", Name(s), s.Seed, o.Makespan, o.Bound)
		case o.Makespan > rigid:
			t.Errorf("%s seed %d: makespan %v, slower than rigid batches %s (%v)", Name(s), s.Seed, o.Makespan, of, rigid)
		case o.Makespan > o.Greedy:
			t.Errorf("%s seed %d: makespan %v, slower than ideal greedy (%v)", Name(s), s.Seed, o.Makespan, o.Greedy)
		case o.PeakPods > int(s.Replicas+surge) || o.PeakUnavailable > int(unav):
			t.Errorf("%s seed %d: %d pods, %d unavailable: over budget", Name(s), s.Seed, o.PeakPods, o.PeakUnavailable)
		case o.Creates != int(s.Replicas) || o.Deletes != int(s.Replicas):
			t.Errorf("%s seed %d: %d creates and %d deletes for %d pods", Name(s), s.Seed, o.Creates, o.Deletes, s.Replicas)
		}
	}
}

// longestFirst returns the LongestFirst scenarios the tests run: the
// suite's small budgets where index order is furthest from the bound, 25%
// surge, and an in-place and a surge budget of one pod, for random
// durations, each with every EstimateNoise of the suite.
func longestFirst(check bool) []Scenario {
	var out []Scenario
	for _, f := range []Family{UniformDurations, LongTailDurations} {
		for _, b := range [][2]int{{0, 1}, {1, 0}, {0, 3}, {1, 1}, {2, 2}} {
			for seed := uint64(1); seed <= 2; seed++ {
				for _, sigma := range EstimateNoises {
					out = append(out, Scenario{Replicas: 12, MaxSurge: n(b[0]), MaxUnavailable: n(b[1]), Durations: f, Seed: seed, Check: check,
						Order: upgrade.LongestFirst, Estimates: true, EstimateNoise: sigma})
				}
			}
		}
	}
	for _, sigma := range EstimateNoises {
		out = append(out, Scenario{Replicas: 40, MaxSurge: pct("25%"), MaxUnavailable: n(0), Durations: LongTailDurations, Seed: 3, Check: check,
			Order: upgrade.LongestFirst, Estimates: true, EstimateNoise: sigma})
	}
	return out
}

// TestEngineIsGreedy holds the engine to ideal list scheduling in its own
// order exactly, not only as an upper bound: in index order, and under
// LongestFirst in the order of the estimates the driver reports, exact or
// not. With exact estimates that order is the pod times' (equal times in
// slot order, as LPT breaks ties), so the engine makes LPT's schedule.
func TestEngineIsGreedy(t *testing.T) {
	ctx := context.Background()
	var scenarios []Scenario
	for _, f := range []Family{UniformDurations, LongTailDurations} {
		for _, b := range [][2]int{{0, 3}, {1, 1}, {2, 2}} {
			scenarios = append(scenarios, Scenario{Replicas: 12, MaxSurge: n(b[0]), MaxUnavailable: n(b[1]), Durations: f, Seed: 5})
		}
	}
	scenarios = append(scenarios, longestFirst(false)...)
	scenarios = append(scenarios,
		Scenario{Replicas: 120, MaxSurge: pct("25%"), MaxUnavailable: n(0), Durations: LongTailDurations, Seed: 6},
		Scenario{Replicas: 120, MaxSurge: pct("25%"), MaxUnavailable: n(0), Durations: LongTailDurations, Seed: 6, Order: upgrade.LongestFirst, Estimates: true},
		Scenario{Replicas: 120, MaxSurge: pct("25%"), MaxUnavailable: n(0), Durations: LongTailDurations, Seed: 6, Order: upgrade.LongestFirst, Estimates: true, EstimateNoise: 0.5},
	)
	for _, s := range scenarios {
		o, err := Run(ctx, s)
		if err != nil {
			t.Fatalf("%s seed %d: %v", Name(s), s.Seed, err)
		}
		if o.Makespan != o.Greedy {
			t.Errorf("%s seed %d: makespan %v, ideal greedy in the engine's order %v", Name(s), s.Seed, o.Makespan, o.Greedy)
		}
		if s.Order == upgrade.LongestFirst && s.EstimateNoise == 0 && o.Makespan != o.LPT {
			t.Errorf("%s seed %d: makespan %v with exact estimates, LPT %v", Name(s), s.Seed, o.Makespan, o.LPT)
		}
	}
}

// TestLongestFirstWithoutEstimates: LongestFirst with every Estimate 0 is
// index order.
func TestLongestFirstWithoutEstimates(t *testing.T) {
	ctx := context.Background()
	s := Scenario{Replicas: 12, MaxSurge: n(2), MaxUnavailable: n(2), Durations: LongTailDurations, Seed: 2}
	index, err := Run(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	s.Order = upgrade.LongestFirst
	lf, err := Run(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if lf.Makespan != index.Makespan || lf.Makespan != Greedy(index.Pods, index.C) {
		t.Errorf("LongestFirst without estimates: %v, index order %v, greedy in slot order %v", lf.Makespan, index.Makespan, Greedy(index.Pods, index.C))
	}
}

func TestDrawEstimates(t *testing.T) {
	base := Scenario{Replicas: 50, Durations: LongTailDurations, Seed: 3}
	plain := base.Draw()
	exact := base
	exact.Estimates = true
	noisy := []Scenario{exact, exact}
	noisy[0].EstimateNoise, noisy[1].EstimateNoise = 0.25, 0.5
	e, a, b := exact.Draw(), noisy[0].Draw(), noisy[1].Draw()
	var wrong int
	for i := range plain {
		if plain[i].Estimate != 0 {
			t.Fatalf("slot %d: estimate %v without Estimates", i, plain[i].Estimate)
		}
		for _, q := range [][]Pod{e, a, b} {
			d := q[i]
			d.Estimate = 0
			if d != plain[i] {
				t.Fatalf("slot %d: estimates changed the durations: %+v, want %+v", i, q[i], plain[i])
			}
		}
		if e[i].Estimate != e[i].Time() {
			t.Fatalf("slot %d: exact estimate %v, pod time %v", i, e[i].Estimate, e[i].Time())
		}
		// The same Z for every σ: ln(estimate/p) = σ·Z.
		za := math.Log(float64(a[i].Estimate)/float64(a[i].Time())) / 0.25
		zb := math.Log(float64(b[i].Estimate)/float64(b[i].Time())) / 0.5
		if math.Abs(za-zb) > 1e-6 {
			t.Fatalf("slot %d: Z %g at σ 0.25, %g at σ 0.5", i, za, zb)
		}
		if a[i].Estimate != a[i].Time() {
			wrong++
		}
	}
	if wrong < len(plain)/2 {
		t.Errorf("σ 0.25: only %d of %d estimates differ from the pod time", wrong, len(plain))
	}
	if again := noisy[1].Draw(); !slices.Equal(again, b) {
		t.Error("the same scenario draws other estimates")
	}
	other := noisy[1]
	other.Seed++
	z := func(p Pod) float64 { return math.Log(float64(p.Estimate) / float64(p.Time())) }
	if c := other.Draw(); z(c[0]) == z(b[0]) && z(c[1]) == z(b[1]) {
		t.Error("another seed draws the same estimate errors")
	}
}

func TestInOrder(t *testing.T) {
	p := pods(3, 5, 1, 5, 2)
	for i := range p {
		p[i].Estimate = p[i].Start
	}
	p[4].Estimate = 6 * time.Second // an estimate that is wrong
	starts := func(q []Pod) []time.Duration {
		var out []time.Duration
		for _, x := range q {
			out = append(out, x.Start/time.Second)
		}
		return out
	}
	for _, tc := range []struct {
		o    upgrade.Order
		want []time.Duration
	}{
		{"", []time.Duration{3, 5, 1, 5, 2}},
		{upgrade.Ordinal, []time.Duration{3, 5, 1, 5, 2}},
		{upgrade.PrimaryLast, []time.Duration{3, 5, 1, 5, 2}},
		{upgrade.ReverseOrdinal, []time.Duration{2, 5, 1, 5, 3}},
		// By estimate (the 2 s pod estimated at 6 s first), equal
		// estimates in slot order.
		{upgrade.LongestFirst, []time.Duration{2, 5, 5, 3, 1}},
	} {
		if got := starts(InOrder(p, tc.o)); !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.o, got, tc.want)
		}
	}
	if p[0].Start != 3*time.Second {
		t.Error("InOrder reordered its argument")
	}
}

func TestScenarioValidate(t *testing.T) {
	ctx := context.Background()
	for _, s := range []Scenario{
		{Replicas: 3, MaxSurge: n(1), Durations: FixedDurations, EstimateNoise: 0.5},
		{Replicas: 3, MaxSurge: n(1), Durations: FixedDurations, Estimates: true, EstimateNoise: -1},
		{Replicas: 3, MaxSurge: n(1), Durations: FixedDurations, Estimates: true, EstimateNoise: math.NaN()},
		{Replicas: 3, MaxSurge: n(1), Durations: FixedDurations, Order: "Random"},
	} {
		if _, err := Run(ctx, s); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
}

// TestSuiteLongestFirst: the suite follows each random-duration row with
// N/c ≤ 10 and c ≥ 2 by its LongestFirst rows, and nothing else.
func TestSuiteLongestFirst(t *testing.T) {
	var got []string
	for i, s := range Suite(true) {
		if s.Order == upgrade.LongestFirst {
			continue
		}
		var lf []string
		for _, x := range Suite(true)[i+1:] {
			if x.Order != upgrade.LongestFirst {
				break
			}
			if x.Replicas != s.Replicas || x.Budget() != s.Budget() || x.Durations.Name != s.Durations.Name || x.Seed != s.Seed || x.VerifyInterval != s.VerifyInterval || !x.Estimates {
				t.Fatalf("%s followed by %s", Name(s), Name(x))
			}
			lf = append(lf, OrderLabel(x))
		}
		if len(lf) == 0 {
			continue
		}
		if want := []string{"longest first, exact", "longest first, σ 0.25", "longest first, σ 0.5"}; !slices.Equal(lf, want) {
			t.Errorf("%s: followed by %v, want %v", Name(s), lf, want)
		}
		got = append(got, Name(s))
	}
	want := []string{
		"uniform N=12 0/3", "uniform N=12 1/1", "uniform N=12 2/2", "uniform N=120 25%/0", "uniform N=1000 10%/0",
		"long-tail N=12 0/3", "long-tail N=12 1/1", "long-tail N=12 2/2", "long-tail N=120 25%/0", "long-tail N=1000 10%/0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("LongestFirst rows follow %s\nwant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	// large adds 2 rows per family and their LongestFirst rows.
	if n := len(Suite(false)); n != len(Suite(true))-3*2-2*3 {
		t.Errorf("without large: %d scenarios, want %d", n, len(Suite(true))-3*2-2*3)
	}
}
