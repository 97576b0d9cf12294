package upgrade

import (
	"context"
	"time"

	"github.com/rollgate/rollgate/partition"
	"github.com/rollgate/rollgate/verify"
)

// Order is how the Upgrader orders the slots it moves.
type Order = partition.Order

// Orders (see package partition).
const (
	Ordinal        = partition.Ordinal
	ReverseOrdinal = partition.ReverseOrdinal
	PrimaryLast    = partition.PrimaryLast
	LongestFirst   = partition.LongestFirst
)

// Pod is one pod of the group as the driver observes it.
type Pod struct {
	// Index is the slot, 0..replicas-1; a surge pod shares its slot's index.
	Index   int32
	Name    string
	Version string
	Ready   bool
	// Primary is true while the pod holds the primary/leader role.
	Primary bool
	// Failed, when non-empty, says the pod cannot become ready
	// (ImagePullBackOff, CrashLoopBackOff...): the Upgrader fails the slot at
	// once instead of waiting for the timeout.
	Failed string
	// Created is when the pod was created.
	Created time.Time
	// UID identifies this incarnation; drivers use it as a delete
	// precondition so a stale view never deletes a newer pod of the same name.
	UID string
	// Terminating is true once deletion was requested; the pod is listed
	// until it is gone, and counts toward the pod budget until then.
	Terminating bool
	// Estimate is how long the driver expects the slot's transition to
	// take when this pod is replaced (stop, start, catch up), e.g. from
	// the data the pod holds or the last upgrade's time; 0 when unknown,
	// never negative. Only the LongestFirst order reads it: it starts the
	// longest first, so that one slow pod does not start last.
	Estimate time.Duration
}

// Target returns the verify.Target for the pod.
func (p Pod) Target() verify.Target {
	return verify.Target{Name: p.Name, Index: p.Index, Version: p.Version, Ready: p.Ready}
}

// PodDriver is what the Upgrader needs from the platform that runs the pods.
//
// Implementations must be safe for use by one Upgrader at a time; the
// Upgrader never calls a driver concurrently. Check an implementation with
// upgradetest.TestPodDriver.
type PodDriver interface {
	// Pods lists every pod of the group now, surge and terminating pods
	// included. The list may lag behind the driver's own writes (an
	// informer cache); the Upgrader tolerates that while the lag is
	// shorter than the pod timeout (rollingUpdate.timeout): a new pod
	// listed once and then no longer shown counts toward the budget for
	// that long, then is taken for gone.
	Pods(ctx context.Context) ([]Pod, error)
	// Create starts a pod for slot index at version. With surge the slot's
	// existing pod keeps running beside the new one.
	//
	// Create must be idempotent: when the slot already has a pod at
	// version that is not terminating, it starts nothing and returns nil
	// or an AlreadyExists error. The Upgrader may repeat a Create whose
	// pod it cannot see: the reply was lost, or the controller crashed
	// before persisting the status and the list still lags. Only the
	// driver can tell; deterministic pod names give this for free (the
	// slot's name, and one alternate name for the pod beside it while a
	// surge runs), generateName does not.
	Create(ctx context.Context, index int32, version string, surge bool) error
	// Delete stops pod, identified by its UID. A pod already gone or
	// terminating is not an error; a pod whose UID no longer matches the
	// named pod must not be deleted.
	Delete(ctx context.Context, pod Pod) error
}

// Failoverer is implemented by drivers that can move the primary role away
// from a pod before it is stopped. The Upgrader calls Failover once per
// transition and waits until Pods shows primary without the role; when the
// role has not moved a quarter of the pod timeout later (the pod chosen to
// take it may have died), it calls Failover again, until the timeout
// fails the slot.
type Failoverer interface {
	Failover(ctx context.Context, primary Pod) error
}

// Precheck is a compatibility check run once before an upgrade touches any
// pod (design step 1: the plugin supports the version, the image is
// accessible, storage is compatible). A non-nil error refuses the upgrade.
type Precheck interface {
	Check(ctx context.Context, from, to string) error
}

// PrecheckFunc adapts a function to Precheck.
type PrecheckFunc func(ctx context.Context, from, to string) error

// Check calls f.
func (f PrecheckFunc) Check(ctx context.Context, from, to string) error { return f(ctx, from, to) }

// Desired is what the caller wants the group to run.
type Desired struct {
	Version  string
	Replicas int32
}

// Result tells the caller when to call Step again, in the manner of
// controller-runtime's reconcile.Result.
type Result struct {
	// Done is true when the group reached a state that needs no further
	// Step until the desired state or the spec changes (Completed, Paused,
	// RolledBack, Failed, or nothing to do).
	Done bool
	// RequeueAfter is when to call Step again when not Done; 0 with Done
	// false means as soon as the status is persisted.
	RequeueAfter time.Duration
}

// Notifier receives the Upgrader's events (the design's alert
// notifications). Notify must not block for long.
type Notifier interface {
	Notify(ctx context.Context, e Event)
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, e Event)

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, e Event) { f(ctx, e) }

// Event is one notification. Index -1 means the whole group.
type Event struct {
	Reason  string
	Message string
	Index   int32
	Warning bool
}

// Event reasons.
const (
	ReasonUpgradeStarted       = "UpgradeStarted"
	ReasonPodUpgraded          = "PodUpgraded"
	ReasonUpgradePaused        = "UpgradePaused"
	ReasonUpgradeCompleted     = "UpgradeCompleted"
	ReasonUpgradeFailed        = "UpgradeFailed"
	ReasonRollbackStarted      = "RollbackStarted"
	ReasonRollbackCompleted    = "RollbackCompleted"
	ReasonRollbackFailed       = "RollbackFailed"
	ReasonRollbackLimitReached = "RollbackLimitReached"
	// ReasonPodFailed is sent when a slot fails (Warning).
	ReasonPodFailed = "PodFailed"
	// ReasonPrecheckFailed is sent when a compatibility precheck refuses
	// the upgrade (Warning).
	ReasonPrecheckFailed = "PrecheckFailed"
)
