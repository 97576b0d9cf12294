package upgrade

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/rollgate/rollgate/rollback"
	"github.com/rollgate/rollgate/verify"
)

// Defaults of the design's table 3.2.
const (
	DefaultMaxSurge       = 1
	DefaultMaxUnavailable = 0
	DefaultPartition      = 0
	DefaultTimeout        = 300 * time.Second
)

// Spec is the upgrade part of a group's spec: what sits under `spec:` in the
// design's example 3.1. JSON names are the design's.
type Spec struct {
	RollingUpdate     RollingUpdate   `json:"rollingUpdate,omitempty"`
	PreUpgradeCheck   verify.Check    `json:"preUpgradeCheck,omitempty"`
	PostUpgradeVerify verify.Check    `json:"postUpgradeVerify,omitempty"`
	Rollback          rollback.Policy `json:"rollback,omitempty"`
}

// RollingUpdate is the design's rollingUpdate block.
type RollingUpdate struct {
	// MaxSurge is how many pods may run beyond replicas (default 1); an
	// integer or a percentage of replicas, rounded up.
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`
	// MaxUnavailable is how many slots may lack a ready pod (default 0); an
	// integer or a percentage of replicas, rounded down.
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// Partition: only slots with index >= partition are upgraded (default 0).
	Partition *int32 `json:"partition,omitempty"`
	// Timeout bounds each pod's upgrade (default 300s): the new pod must be
	// ready, and then verified, within it.
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// Order of the slots: Ordinal (default), ReverseOrdinal, PrimaryLast
	// or LongestFirst (the driver's Pod.Estimate, longest first; the
	// primary's slot last).
	Order Order `json:"order,omitempty"`
	// Paused stops the upgrade from starting new slots; slots in flight
	// finish.
	Paused bool `json:"paused,omitempty"`
}

// ParseSpec reads YAML or JSON of the mapping that holds rollingUpdate,
// preUpgradeCheck, postUpgradeVerify and rollback (what sits under `spec:`
// in the design), rejects unknown fields, applies defaults and validates. A
// document with a single top-level `spec:` key is unwrapped.
func ParseSpec(data []byte) (Spec, error) {
	var s Spec
	if inner, ok := specBody(data); ok {
		data = inner
	}
	if errs := decodeStrict(data, field.NewPath("spec"), &s); len(errs) > 0 {
		return Spec{}, fmt.Errorf("upgrade: invalid spec: %w", errs.ToAggregate())
	}
	s.Default()
	if errs := s.Validate(); len(errs) > 0 {
		return Spec{}, fmt.Errorf("upgrade: invalid spec: %w", errs.ToAggregate())
	}
	return s, nil
}

// specBody returns the value of a document whose only key is spec.
func specBody(data []byte) ([]byte, bool) {
	var m map[string]json.RawMessage
	j, err := yaml.YAMLToJSON(data)
	if err != nil || json.Unmarshal(j, &m) != nil || len(m) != 1 || m["spec"] == nil {
		return nil, false
	}
	return m["spec"], true
}

// Default fills every unset field with the design's default (table 3.2,
// rollback limit 3, check defaults). It is idempotent.
func (s *Spec) Default() {
	r := &s.RollingUpdate
	if r.MaxSurge == nil {
		v := intstr.FromInt32(DefaultMaxSurge)
		r.MaxSurge = &v
	}
	if r.MaxUnavailable == nil {
		v := intstr.FromInt32(DefaultMaxUnavailable)
		r.MaxUnavailable = &v
	}
	if r.Partition == nil {
		p := int32(DefaultPartition)
		r.Partition = &p
	}
	if r.Timeout == nil {
		r.Timeout = &metav1.Duration{Duration: DefaultTimeout}
	}
	if r.Order == "" {
		r.Order = Ordinal
	}
	s.PreUpgradeCheck.Default()
	s.PostUpgradeVerify.Default()
	s.Rollback.Default()
}

// Validate checks the spec and returns every problem with its field path
// (spec.rollingUpdate.maxUnavailable...). Unset fields are valid (they take
// defaults).
func (s *Spec) Validate() field.ErrorList {
	root := field.NewPath("spec")
	ru := root.Child("rollingUpdate")
	r := s.RollingUpdate
	var errs field.ErrorList
	surgeZero, unavZero := false, false
	if r.MaxSurge != nil {
		z, e := validateIntOrPercent(*r.MaxSurge, ru.Child("maxSurge"), false)
		surgeZero = z
		errs = append(errs, e...)
	}
	if r.MaxUnavailable != nil {
		z, e := validateIntOrPercent(*r.MaxUnavailable, ru.Child("maxUnavailable"), true)
		unavZero = z
		errs = append(errs, e...)
	} else {
		unavZero = DefaultMaxUnavailable == 0
	}
	if r.MaxSurge == nil {
		surgeZero = DefaultMaxSurge == 0
	}
	if surgeZero && unavZero {
		errs = append(errs, field.Invalid(ru.Child("maxUnavailable"), intOrStringText(r.MaxUnavailable), "may not be 0 when maxSurge is 0"))
	}
	if r.Partition != nil && *r.Partition < 0 {
		errs = append(errs, field.Invalid(ru.Child("partition"), *r.Partition, "must be greater than or equal to 0"))
	}
	if r.Timeout != nil && r.Timeout.Duration <= 0 {
		errs = append(errs, field.Invalid(ru.Child("timeout"), r.Timeout.Duration.String(), "must be a positive duration such as 300s"))
	}
	if !r.Order.Valid() {
		errs = append(errs, field.NotSupported(ru.Child("order"), r.Order, []string{string(Ordinal), string(ReverseOrdinal), string(PrimaryLast), string(LongestFirst)}))
	}
	errs = append(errs, s.PreUpgradeCheck.Validate(root.Child("preUpgradeCheck"))...)
	errs = append(errs, s.PostUpgradeVerify.Validate(root.Child("postUpgradeVerify"))...)
	errs = append(errs, s.Rollback.Validate(root.Child("rollback"))...)
	return errs
}

func intOrStringText(v *intstr.IntOrString) string {
	if v == nil {
		return "0"
	}
	return v.String()
}

// validateIntOrPercent checks an int or "N%" value; it reports whether the
// value is literally zero.
func validateIntOrPercent(v intstr.IntOrString, p *field.Path, capHundred bool) (bool, field.ErrorList) {
	switch v.Type {
	case intstr.Int:
		if v.IntVal < 0 {
			return false, field.ErrorList{field.Invalid(p, v.IntVal, "must be greater than or equal to 0")}
		}
		return v.IntVal == 0, nil
	default:
		s := v.StrVal
		if !strings.HasSuffix(s, "%") {
			return false, field.ErrorList{field.Invalid(p, s, "must be an integer or a percentage such as 25%")}
		}
		n, err := intstr.GetScaledValueFromIntOrPercent(&v, 100, false)
		if err != nil || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") || strings.TrimSpace(s) != s {
			return false, field.ErrorList{field.Invalid(p, s, "must be an integer or a percentage such as 25%")}
		}
		if n < 0 {
			return false, field.ErrorList{field.Invalid(p, s, "must be greater than or equal to 0")}
		}
		if capHundred && n > 100 {
			return false, field.ErrorList{field.Invalid(p, s, "must not be greater than 100%")}
		}
		return n == 0, nil
	}
}

// Budget resolves maxSurge and maxUnavailable against replicas as a
// Deployment does: surge rounds up, unavailable rounds down, and when both
// resolve to 0, maxUnavailable is 1. The spec must be valid.
func (s *Spec) Budget(replicas int32) (maxSurge, maxUnavailable int32) {
	r := s.RollingUpdate
	surge, unav := intstr.FromInt32(DefaultMaxSurge), intstr.FromInt32(DefaultMaxUnavailable)
	if r.MaxSurge != nil {
		surge = *r.MaxSurge
	}
	if r.MaxUnavailable != nil {
		unav = *r.MaxUnavailable
	}
	su, err1 := intstr.GetScaledValueFromIntOrPercent(&surge, int(replicas), true)
	un, err2 := intstr.GetScaledValueFromIntOrPercent(&unav, int(replicas), false)
	if err1 != nil || su < 0 {
		su = 0
	}
	if err2 != nil || un < 0 {
		un = 0
	}
	if su == 0 && un == 0 {
		un = 1
	}
	return int32(su), int32(un)
}

// partitionValue returns the partition clamped to [0, replicas].
func (s *Spec) partitionValue(replicas int32) int32 {
	p := int32(0)
	if s.RollingUpdate.Partition != nil {
		p = *s.RollingUpdate.Partition
	}
	if p < 0 {
		p = 0
	}
	if p > replicas {
		p = replicas
	}
	return p
}

func (s *Spec) podTimeout() time.Duration {
	if s.RollingUpdate.Timeout != nil && s.RollingUpdate.Timeout.Duration > 0 {
		return s.RollingUpdate.Timeout.Duration
	}
	return DefaultTimeout
}
