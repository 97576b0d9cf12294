package upgrade

import (
	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/rollgate/rollgate/verify"
)

// Option configures an Upgrader.
type Option func(*Upgrader)

// WithClock sets the clock (default: the real clock). Tests pass a
// k8s.io/utils/clock/testing.FakeClock.
func WithClock(c clock.Clock) Option { return func(u *Upgrader) { u.clock = c } }

// WithLogger sets the logger (default: discard).
func WithLogger(l logr.Logger) Option { return func(u *Upgrader) { u.log = l } }

// WithNotifier sets where events go (default: nowhere).
func WithNotifier(n Notifier) Option { return func(u *Upgrader) { u.notifier = n } }

// WithPodAccess sets how checks reach into pods when the driver does not
// implement verify.PodAccess itself.
func WithPodAccess(a verify.PodAccess) Option { return func(u *Upgrader) { u.access = a } }

// WithPreUpgradeCheck replaces the pre-upgrade check built from the spec.
// The spec's policy (interval, timeout, thresholds) still applies.
func WithPreUpgradeCheck(v verify.Verifier) Option { return func(u *Upgrader) { u.pre = v } }

// WithPostUpgradeVerifier replaces the post-upgrade verifier built from the
// spec. The spec's policy (interval, thresholds) still applies.
func WithPostUpgradeVerifier(v verify.Verifier) Option { return func(u *Upgrader) { u.post = v } }

// WithPrecheck adds a compatibility precheck (design step 1). It may be
// given several times; prechecks run in the order given.
func WithPrecheck(p Precheck) Option {
	return func(u *Upgrader) { u.prechecks = append(u.prechecks, p) }
}
