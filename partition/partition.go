package partition

import "sort"

// Canary returns the partition that upgrades only the top n indexes of a
// group of replicas: replicas-n, clamped to [0, replicas].
func Canary(replicas, n int32) int32 {
	if n < 0 {
		n = 0
	}
	p := replicas - n
	if p < 0 {
		return 0
	}
	return p
}

// Clamp returns the partition bounded to [0, replicas].
func Clamp(p, replicas int32) int32 {
	if p < 0 {
		return 0
	}
	if p > replicas {
		return replicas
	}
	return p
}

// Upgraded reports whether slot index is upgraded under partition p.
func Upgraded(index, p int32) bool { return index >= p }

// Held returns the slots below the partition, in ascending order.
func Held(replicas, p int32) []int32 {
	p = Clamp(p, replicas)
	out := make([]int32, p)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

// Order is how an upgrade orders the slots it moves.
type Order string

// Orders.
const (
	// Ordinal visits slots in ascending index order (the design's default).
	Ordinal Order = "Ordinal"
	// ReverseOrdinal visits slots from the highest index down, as a
	// StatefulSet does.
	ReverseOrdinal Order = "ReverseOrdinal"
	// PrimaryLast visits replicas first in ascending order and the slot whose
	// pod holds the primary role last.
	PrimaryLast Order = "PrimaryLast"
	// LongestFirst visits the slots whose pods are expected to take
	// longest first (the driver's estimate, upgrade.Pod.Estimate), the slot
	// whose pod holds the primary role last, ties in ascending index order:
	// longest-processing-time-first list scheduling, which keeps one slow
	// pod from starting last and finishing long after the others. Without
	// estimates it is PrimaryLast.
	LongestFirst Order = "LongestFirst"
)

// Valid reports whether o is a known order ("" counts as Ordinal).
func (o Order) Valid() bool {
	switch o {
	case "", Ordinal, ReverseOrdinal, PrimaryLast, LongestFirst:
		return true
	}
	return false
}

// Sort orders idx in place for o. primary reports whether a slot holds the
// primary role; it is consulted only for PrimaryLast and LongestFirst and
// may be nil. Sort knows no estimates: LongestFirst sorts as PrimaryLast.
// Sorting is stable and deterministic.
func Sort(idx []int32, o Order, primary func(int32) bool) {
	switch o {
	case ReverseOrdinal:
		sort.Slice(idx, func(a, b int) bool { return idx[a] > idx[b] })
	case PrimaryLast, LongestFirst:
		rank := func(i int32) int {
			if primary != nil && primary(i) {
				return 1
			}
			return 0
		}
		sort.Slice(idx, func(a, b int) bool {
			ra, rb := rank(idx[a]), rank(idx[b])
			if ra != rb {
				return ra < rb
			}
			return idx[a] < idx[b]
		})
	default:
		sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	}
}

// Less reports whether slot a comes before slot b under o (LongestFirst
// without estimates: as PrimaryLast).
func Less(a, b int32, o Order, aPrimary, bPrimary bool) bool {
	switch o {
	case ReverseOrdinal:
		return a > b
	case PrimaryLast, LongestFirst:
		if aPrimary != bPrimary {
			return !aPrimary
		}
	}
	return a < b
}
