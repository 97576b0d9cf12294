package partition_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/rollgate/rollgate/partition"
)

func TestCanary(t *testing.T) {
	tests := []struct{ replicas, n, want int32 }{
		{3, 1, 2}, // design 4.3: 3 replicas, canary of 1 -> partition 2
		{5, 1, 4},
		{5, 5, 0},
		{5, 0, 5},
		{5, 9, 0},
		{5, -1, 5},
		{0, 1, 0},
	}
	for _, tt := range tests {
		if got := partition.Canary(tt.replicas, tt.n); got != tt.want {
			t.Errorf("Canary(%d, %d) = %d, want %d", tt.replicas, tt.n, got, tt.want)
		}
	}
}

func TestClampAndHeld(t *testing.T) {
	if got := partition.Clamp(-3, 5); got != 0 {
		t.Errorf("Clamp(-3) = %d", got)
	}
	if got := partition.Clamp(9, 5); got != 5 {
		t.Errorf("Clamp(9) = %d", got)
	}
	if got := partition.Held(5, 2); !slices.Equal(got, []int32{0, 1}) {
		t.Errorf("Held(5, 2) = %v", got)
	}
	if got := partition.Held(3, 7); !slices.Equal(got, []int32{0, 1, 2}) {
		t.Errorf("Held(3, 7) = %v", got)
	}
	if !partition.Upgraded(2, 2) || partition.Upgraded(1, 2) {
		t.Error("Upgraded: index >= partition is upgraded")
	}
}

func TestSort(t *testing.T) {
	primary := func(i int32) bool { return i == 1 }
	tests := []struct {
		o    partition.Order
		want []int32
	}{
		{partition.Ordinal, []int32{0, 1, 2, 3}},
		{"", []int32{0, 1, 2, 3}},
		{partition.ReverseOrdinal, []int32{3, 2, 1, 0}},
		{partition.PrimaryLast, []int32{0, 2, 3, 1}},
		{partition.LongestFirst, []int32{0, 2, 3, 1}}, // no estimates: as PrimaryLast
	}
	for _, tt := range tests {
		idx := []int32{2, 0, 3, 1}
		partition.Sort(idx, tt.o, primary)
		if !slices.Equal(idx, tt.want) {
			t.Errorf("Sort(%q) = %v, want %v", tt.o, idx, tt.want)
		}
		for a := range tt.want {
			for b := range tt.want {
				if a == b {
					continue
				}
				x, y := tt.want[a], tt.want[b]
				if got := partition.Less(x, y, tt.o, primary(x), primary(y)); got != (a < b) {
					t.Errorf("Less(%d, %d, %q) = %v", x, y, tt.o, got)
				}
			}
		}
	}
	if !partition.PrimaryLast.Valid() || !partition.LongestFirst.Valid() || partition.Order("Random").Valid() {
		t.Error("Valid")
	}
}

// A canary of one pod on a 5-pod group, then the promotion.
func ExampleCanary() {
	p := partition.Canary(5, 1)
	fmt.Println("partition:", p, "held:", partition.Held(5, p))
	fmt.Println("promote: partition", partition.Canary(5, 5))
	// Output:
	// partition: 4 held: [0 1 2 3]
	// promote: partition 0
}

func ExampleSort() {
	slots := []int32{0, 1, 2, 3, 4}
	partition.Sort(slots, partition.PrimaryLast, func(i int32) bool { return i == 0 })
	fmt.Println(slots)
	// Output: [1 2 3 4 0]
}
