// Command simulate runs whole upgrades of the rollgate engine on the
// in-memory driver in fake time and prints, per scenario, the makespan
// divided by the lower bound max(longest pod, total pod time / c), next to
// ideal greedy list scheduling in the engine's order, clairvoyant LPT,
// rigid batches of c and one pod at a time computed from the same drawn
// durations. Rows run in index order; where that stays furthest from the
// bound, the same scenario follows under the LongestFirst order with the
// driver reporting estimates of each pod's time, exact or with a
// log-normal error of σ 0.25 and 0.5 (the "order / estimate" column). See
// package internal/sim for the model.
//
//	go run ./examples/simulate             # the standard suite, 20 seeds
//	go run ./examples/simulate -large      # also 1,000-pod groups
//	go run ./examples/simulate -seeds 100
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/rollgate/rollgate/internal/sim"
)

func main() {
	seeds := flag.Int("seeds", 20, "seeds per scenario with random durations")
	large := flag.Bool("large", false, "add 1,000-pod scenarios")
	check := flag.Bool("check", false, "run the invariant checker after every Step (slower)")
	flag.Parse()
	ctx := context.Background()
	var rows []sim.Row
	for _, s := range sim.Suite(*large) {
		s.Check = *check
		r, err := sim.Summarize(ctx, s, sim.SeedsFor(s, *seeds))
		if err != nil {
			fmt.Fprintln(os.Stderr, "simulate:", err)
			os.Exit(1)
		}
		rows = append(rows, r)
	}
	if err := sim.WriteTable(os.Stdout, rows); err != nil {
		fmt.Fprintln(os.Stderr, "simulate:", err)
		os.Exit(1)
	}
	fmt.Println()
	fmt.Println("Ratios are makespan / bound, mean over the seeds (worst in parentheses).")
	fmt.Println("bound = max(longest pod time, total pod time / c); pod time = terminate + start + verify; c = maxSurge + maxUnavailable.")
	fmt.Println("Ideal greedy follows the engine's order (by the estimates under longest first); rigid batches take the slots in index order.")
	fmt.Println("Estimate σ: the driver reports pod time × exp(σ·Z), Z ~ N(0,1); exact: σ = 0.")
}
