package sim

import (
	"context"
	"testing"
	"time"
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
	)
	for _, s := range scenarios {
		o, err := Run(ctx, s)
		if err != nil {
			t.Fatalf("%s seed %d: %v", Name(s), s.Seed, err)
		}
		spec := s.Spec()
		surge, unav := spec.Budget(s.Replicas)
		switch {
		case o.Makespan < o.Bound:
			t.Errorf("%s seed %d: makespan %v beats the lower bound %v: the model is wrong", Name(s), s.Seed, o.Makespan, o.Bound)
		case o.Makespan > o.RigidBatches:
			t.Errorf("%s seed %d: makespan %v, slower than rigid batches (%v)", Name(s), s.Seed, o.Makespan, o.RigidBatches)
		case o.Makespan > o.Greedy:
			t.Errorf("%s seed %d: makespan %v, slower than ideal greedy (%v)", Name(s), s.Seed, o.Makespan, o.Greedy)
		case o.PeakPods > int(s.Replicas+surge) || o.PeakUnavailable > int(unav):
			t.Errorf("%s seed %d: %d pods, %d unavailable: over budget", Name(s), s.Seed, o.PeakPods, o.PeakUnavailable)
		case o.Creates != int(s.Replicas) || o.Deletes != int(s.Replicas):
			t.Errorf("%s seed %d: %d creates and %d deletes for %d pods", Name(s), s.Seed, o.Creates, o.Deletes, s.Replicas)
		}
	}
}
