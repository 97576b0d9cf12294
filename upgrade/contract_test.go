package upgrade_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"

	"github.com/rollgate/rollgate/partition"
	"github.com/rollgate/rollgate/rollback"
	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/verify"
)

// TestPinnedNames compiles against every name the contract pins, with its
// signature: renaming or dropping one breaks this build, as it would break
// the operators and acceptance tests that import them.
func TestPinnedNames(t *testing.T) {
	var (
		_ func([]byte) (upgrade.Spec, error)                                                                = upgrade.ParseSpec
		_ func(*upgrade.Spec)                                                                               = (*upgrade.Spec).Default
		_ func(*upgrade.Spec) field.ErrorList                                                               = (*upgrade.Spec).Validate
		_ func(upgrade.PodDriver, upgrade.Spec, ...upgrade.Option) (*upgrade.Upgrader, error)               = upgrade.New
		_ func(clock.Clock) upgrade.Option                                                                  = upgrade.WithClock
		_ func(logr.Logger) upgrade.Option                                                                  = upgrade.WithLogger
		_ func(upgrade.Notifier) upgrade.Option                                                             = upgrade.WithNotifier
		_ func(verify.PodAccess) upgrade.Option                                                             = upgrade.WithPodAccess
		_ func(verify.Verifier) upgrade.Option                                                              = upgrade.WithPreUpgradeCheck
		_ func(verify.Verifier) upgrade.Option                                                              = upgrade.WithPostUpgradeVerifier
		_ func(upgrade.Precheck) upgrade.Option                                                             = upgrade.WithPrecheck
		_ func(*upgrade.Upgrader, context.Context, *status.Status, upgrade.Desired) (upgrade.Plan, error)   = (*upgrade.Upgrader).Plan
		_ func(*upgrade.Upgrader, context.Context, *status.Status, upgrade.Desired) (upgrade.Result, error) = (*upgrade.Upgrader).Step
		_ func(*upgrade.Upgrader, context.Context, *status.Status, string) error                            = (*upgrade.Upgrader).Rollback
		_ func(*upgrade.Upgrader, *status.Status) error                                                     = (*upgrade.Upgrader).Retry
		_ func(*upgrade.Upgrader, context.Context, *status.Status, upgrade.Desired) error                   = (*upgrade.Upgrader).Run
		_ func(upgrade.Pod) verify.Target                                                                   = upgrade.Pod.Target
		_ func(verify.Check, verify.PodAccess) (verify.Verifier, error)                                     = verify.New
		_ func(int32, int32) int32                                                                          = partition.Canary
		_ verify.Verifier                                                                                   = verify.Func(nil)
	)
	s := upgrade.Spec{
		RollingUpdate: upgrade.RollingUpdate{
			MaxSurge: &intstr.IntOrString{}, MaxUnavailable: &intstr.IntOrString{}, Partition: new(int32),
			Timeout: &metav1.Duration{}, Order: upgrade.Ordinal, Paused: false,
		},
		PreUpgradeCheck:   verify.Check{Enabled: true, Type: verify.TypeHealthCheck, Command: "", Expected: "", Metrics: []verify.MetricCheck{{Name: "", Expected: ""}}, Endpoint: "", ExpectedStatus: 0, Timeout: &metav1.Duration{}},
		PostUpgradeVerify: verify.Check{},
		Rollback:          rollback.Policy{Enabled: true, OnFailure: true, Limit: new(int32)},
	}
	_ = s
	_ = []upgrade.Order{upgrade.Ordinal, upgrade.ReverseOrdinal, upgrade.PrimaryLast}
	_ = []verify.CheckType{verify.TypeHealthCheck, verify.TypeCustom, verify.TypeExec, verify.TypeMetrics, verify.TypeHTTP}
	_ = upgrade.Pod{Index: 0, Name: "", Version: "", Ready: true, Primary: true, Failed: "", Created: time.Time{}, UID: "", Terminating: true}
	_ = upgrade.Desired{Version: "", Replicas: 0}
	_ = upgrade.Result{Done: true, RequeueAfter: 0}
	_ = upgrade.Plan{From: "", To: "", Order: nil, Held: nil, Next: []upgrade.Action{{Kind: upgrade.ActionCreate, Index: 0, Version: ""}}, MaxSurge: 0, MaxUnavailable: 0}
	_ = upgrade.Event{Reason: upgrade.ReasonUpgradeStarted, Message: "", Index: -1, Warning: true}
	_ = []string{upgrade.ReasonPodUpgraded, upgrade.ReasonUpgradePaused, upgrade.ReasonUpgradeCompleted, upgrade.ReasonUpgradeFailed,
		upgrade.ReasonRollbackStarted, upgrade.ReasonRollbackCompleted, upgrade.ReasonRollbackFailed, upgrade.ReasonRollbackLimitReached}
	_ = verify.Target{Name: "", Index: 0, Version: "", Ready: true}
	st := status.Status{Phase: status.PhaseRunning, CurrentVersion: "", TargetVersion: "", RollbackCount: 0, Conditions: nil,
		UpgradeStatus: &status.UpgradeStatus{Phase: status.UpgradeInProgress, FromVersion: "", ToVersion: "", StartedAt: nil, CompletedAt: nil,
			UpdatedReplicas: 0, TotalReplicas: 0, CurrentIndex: nil, Failures: []status.Failure{{Index: 0, Error: "", Timestamp: metav1.Time{}, Recovered: true}}}}
	_ = st.DeepCopy()
	_ = []status.Phase{status.PhaseRunning, status.PhaseUpgrading, status.PhaseRollingBack, status.PhaseFailed}
	_ = []status.UpgradePhase{status.UpgradeInProgress, status.UpgradePaused, status.UpgradeCompleted, status.UpgradeRollingBack, status.UpgradeRolledBack, status.UpgradeFailed}
	var _ upgrade.Failoverer = failoverFunc(nil)
	var _ upgrade.Precheck = upgrade.PrecheckFunc(nil)
	var _ upgrade.Notifier = upgrade.NotifierFunc(nil)
	if rollback.DefaultLimit != 3 || upgrade.DefaultMaxSurge != 1 || upgrade.DefaultMaxUnavailable != 0 || upgrade.DefaultTimeout != 300*time.Second {
		t.Fatal("design defaults changed")
	}
}

type failoverFunc func(ctx context.Context, primary upgrade.Pod) error

func (f failoverFunc) Failover(ctx context.Context, primary upgrade.Pod) error {
	return f(ctx, primary)
}
