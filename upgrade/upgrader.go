package upgrade

import (
	"fmt"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/rollgate/rollgate/verify"
)

// Upgrader drives one group's upgrades. It holds no state between calls:
// everything it needs lives in the status.Status the caller persists and in
// the pods the driver observes, so a new Upgrader may be built for every
// reconcile. An Upgrader must not be used by two goroutines at once.
type Upgrader struct {
	driver    PodDriver
	spec      Spec
	clock     clock.Clock
	log       logr.Logger
	notifier  Notifier
	access    verify.PodAccess
	pre, post verify.Verifier
	prechecks []Precheck

	// debugShared makes Step and Plan check that they leave the caller's
	// status entries as they were; set only by the package's tests.
	debugShared bool
	// debugOrderFromPods makes Plan build its order from the pods, never
	// from the Step's observation (the tests compare the two).
	debugOrderFromPods bool

	slots   []slotView // reused between Steps
	scratch scratch    // buffers reused between Steps (scratch.go)
}

// New builds an Upgrader for driver and spec. The spec is defaulted and
// validated; an invalid spec returns an error that names every bad field.
// The verifiers of the spec's checks are built here unless replaced by
// WithPreUpgradeCheck / WithPostUpgradeVerifier; they reach pods through
// WithPodAccess, or through the driver when it implements verify.PodAccess.
func New(d PodDriver, s Spec, opts ...Option) (*Upgrader, error) {
	if d == nil {
		return nil, fmt.Errorf("upgrade: driver is nil")
	}
	s.Default()
	if errs := s.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("upgrade: invalid spec: %w", errs.ToAggregate())
	}
	u := &Upgrader{driver: d, spec: s, clock: clock.RealClock{}, log: logr.Discard()}
	for _, o := range opts {
		o(u)
	}
	if u.access == nil {
		if a, ok := d.(verify.PodAccess); ok {
			u.access = a
		}
	}
	var err error
	if u.pre == nil && s.PreUpgradeCheck.Enabled && s.PreUpgradeCheck.Type != verify.TypeHealthCheck {
		if u.pre, err = u.buildVerifier(s.PreUpgradeCheck, "preUpgradeCheck"); err != nil {
			return nil, err
		}
	}
	if u.post == nil && s.PostUpgradeVerify.Enabled {
		if u.post, err = u.buildVerifier(s.PostUpgradeVerify, "postUpgradeVerify"); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// Spec returns the defaulted spec the Upgrader works with.
func (u *Upgrader) Spec() Spec { return u.spec }

func (u *Upgrader) buildVerifier(c verify.Check, name string) (verify.Verifier, error) {
	if u.access == nil && c.Type != verify.TypeHealthCheck {
		return nil, fmt.Errorf("upgrade: spec.%s: a %s check needs pod access: pass WithPodAccess, use a driver that implements verify.PodAccess, or replace the check with With%s", name, c.Type, map[string]string{"preUpgradeCheck": "PreUpgradeCheck", "postUpgradeVerify": "PostUpgradeVerifier"}[name])
	}
	v, err := verify.New(c, u.access)
	if err != nil {
		return nil, fmt.Errorf("upgrade: spec.%s: %w", name, err)
	}
	return v, nil
}
