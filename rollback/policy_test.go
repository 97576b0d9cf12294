package rollback_test

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rollgate/rollgate/rollback"
)

func ptr(v int32) *int32 { return &v }

func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		p      rollback.Policy
		count  int32
		want   rollback.Decision
		reason string
	}{
		{"disabled", rollback.Policy{Enabled: false, OnFailure: true}, 0, rollback.Fail, "disabled"},
		{"not on failure", rollback.Policy{Enabled: true, OnFailure: false}, 0, rollback.Fail, "off"},
		{"first", rollback.Policy{Enabled: true, OnFailure: true}, 0, rollback.Start, "1 of 3"},
		{"below default limit", rollback.Policy{Enabled: true, OnFailure: true}, 2, rollback.Start, "3 of 3"},
		{"default limit reached", rollback.Policy{Enabled: true, OnFailure: true}, 3, rollback.LimitReached, "limit reached"},
		{"limit 1", rollback.Policy{Enabled: true, OnFailure: true, Limit: ptr(1)}, 1, rollback.LimitReached, "1 of 1"},
		{"limit 0", rollback.Policy{Enabled: true, OnFailure: true, Limit: ptr(0)}, 0, rollback.LimitReached, "0 of 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Decide(tt.count); got != tt.want {
				t.Fatalf("Decide(%d) = %v, want %v", tt.count, got, tt.want)
			}
			if got := tt.p.Explain(tt.count); !strings.Contains(got, tt.reason) {
				t.Fatalf("Explain = %q, want %q in it", got, tt.reason)
			}
		})
	}
}

func TestDefaultAndValidate(t *testing.T) {
	var p rollback.Policy
	p.Default()
	if p.Limit == nil || *p.Limit != 3 {
		t.Fatalf("default limit %v", p.Limit)
	}
	p.Limit = ptr(-1)
	errs := p.Validate(field.NewPath("spec", "rollback"))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "spec.rollback.limit") {
		t.Fatalf("Validate = %v", errs)
	}
}

// The design's section 7.3: each failure counts, the limit stops automatic
// rollback.
func ExamplePolicy_Decide() {
	p := rollback.Policy{Enabled: true, OnFailure: true}
	p.Default()
	for count := int32(0); count <= 3; count++ {
		fmt.Println(count, p.Decide(count), "-", p.Explain(count))
	}
	// Output:
	// 0 Start - automatic rollback 1 of 3
	// 1 Start - automatic rollback 2 of 3
	// 2 Start - automatic rollback 3 of 3
	// 3 LimitReached - rollback limit reached (3 of 3)
}
