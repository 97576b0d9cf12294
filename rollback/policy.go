package rollback

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DefaultLimit is the rollback limit when the policy leaves it unset.
const DefaultLimit int32 = 3

// Policy is the design's rollback block.
type Policy struct {
	// Enabled turns rollback on.
	Enabled bool `json:"enabled,omitempty"`
	// OnFailure makes a failed upgrade roll back automatically.
	OnFailure bool `json:"onFailure,omitempty"`
	// Limit is the largest number of automatic rollbacks before a success
	// resets the count (default 3).
	Limit *int32 `json:"limit,omitempty"`
}

// Default fills the limit when it is unset.
func (p *Policy) Default() {
	if p.Limit == nil {
		l := DefaultLimit
		p.Limit = &l
	}
}

// LimitOrDefault returns the limit, or DefaultLimit when unset.
func (p Policy) LimitOrDefault() int32 {
	if p.Limit == nil {
		return DefaultLimit
	}
	return *p.Limit
}

// Validate checks the policy; path is where it sits in the spec.
func (p Policy) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p.Limit != nil && *p.Limit < 0 {
		errs = append(errs, field.Invalid(path.Child("limit"), *p.Limit, "must be greater than or equal to 0"))
	}
	return errs
}

// Decision is the outcome of Decide.
type Decision int

// Decisions.
const (
	// Fail: no automatic rollback; the group stays Failed.
	Fail Decision = iota
	// Start: start an automatic rollback and count it.
	Start
	// LimitReached: rollback is enabled on failure but the count has
	// reached the limit; the group stays Failed.
	LimitReached
)

// String names the decision.
func (d Decision) String() string {
	switch d {
	case Start:
		return "Start"
	case LimitReached:
		return "LimitReached"
	default:
		return "Fail"
	}
}

// Decide says what a failed upgrade does given the policy and how many
// automatic rollbacks were already counted (design section 7.2): it may start
// one when enabled, onFailure and count < limit.
func (p Policy) Decide(count int32) Decision {
	if !p.Enabled || !p.OnFailure {
		return Fail
	}
	if count >= p.LimitOrDefault() {
		return LimitReached
	}
	return Start
}

// Explain gives a sentence for a decision, for events and conditions.
func (p Policy) Explain(count int32) string {
	switch p.Decide(count) {
	case Start:
		return fmt.Sprintf("automatic rollback %d of %d", count+1, p.LimitOrDefault())
	case LimitReached:
		return fmt.Sprintf("rollback limit reached (%d of %d)", count, p.LimitOrDefault())
	}
	if !p.Enabled {
		return "rollback is disabled"
	}
	return "automatic rollback on failure is off"
}
