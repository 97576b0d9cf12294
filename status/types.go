package status

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Phase is the phase of the whole middleware group.
type Phase string

// Group phases. Running is the steady state; Upgrading and RollingBack mean an
// upgrade attempt is moving pods; Failed means an attempt stopped and needs a
// person (or a new desired version, or Retry).
const (
	PhaseRunning     Phase = "Running"
	PhaseUpgrading   Phase = "Upgrading"
	PhaseRollingBack Phase = "RollingBack"
	PhaseFailed      Phase = "Failed"
)

// UpgradePhase is the phase of one upgrade attempt.
type UpgradePhase string

// Upgrade phases.
const (
	// UpgradeInProgress: pods are being moved to ToVersion.
	UpgradeInProgress UpgradePhase = "InProgress"
	// UpgradePaused: every slot at or above the partition runs ToVersion (or
	// the spec is paused); lowering the partition continues.
	UpgradePaused UpgradePhase = "Paused"
	// UpgradeCompleted: every slot runs ToVersion, ready and verified.
	UpgradeCompleted UpgradePhase = "Completed"
	// UpgradeRollingBack: slots on ToVersion are being moved back to FromVersion.
	UpgradeRollingBack UpgradePhase = "RollingBack"
	// UpgradeRolledBack: every slot runs FromVersion again, ready and verified.
	UpgradeRolledBack UpgradePhase = "RolledBack"
	// UpgradeFailed: the attempt stopped; pods are left as they are.
	UpgradeFailed UpgradePhase = "Failed"
)

// Status is the upgrade-related status of a middleware group.
type Status struct {
	// Phase of the group.
	Phase Phase `json:"phase,omitempty"`
	// CurrentVersion is the version every pod ran when the group was last
	// stable. It changes only when an upgrade completes.
	CurrentVersion string `json:"currentVersion,omitempty"`
	// TargetVersion is the version the group is asked to run.
	TargetVersion string `json:"targetVersion,omitempty"`
	// RollbackCount counts automatic rollbacks across attempts; a completed
	// upgrade resets it to 0 (design section 7.3).
	RollbackCount int32 `json:"rollbackCount,omitempty"`
	// UpgradeStatus describes the latest upgrade attempt; nil before the first.
	UpgradeStatus *UpgradeStatus `json:"upgradeStatus,omitempty"`
	// Conditions: Progressing, Available and Degraded (see the Condition*
	// constants), maintained by the Upgrader.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// UpgradeStatus describes one upgrade attempt (design section 8.1).
type UpgradeStatus struct {
	Phase       UpgradePhase `json:"phase"`
	FromVersion string       `json:"fromVersion"`
	ToVersion   string       `json:"toVersion"`
	StartedAt   *metav1.Time `json:"startedAt,omitempty"`
	CompletedAt *metav1.Time `json:"completedAt"`
	// UpdatedReplicas counts slots that run the version the attempt moves
	// them to (ToVersion, or FromVersion while rolling back), ready and
	// verified.
	UpdatedReplicas int32 `json:"updatedReplicas"`
	// TotalReplicas is the group's replica count.
	TotalReplicas int32 `json:"totalReplicas"`
	// CurrentIndex is the slot in flight (the lowest-ordered one when a
	// window of several is in flight); nil when none is.
	CurrentIndex *int32 `json:"currentIndex,omitempty"`
	// Failures records every pod that failed during this attempt.
	Failures []Failure `json:"failures,omitempty"`

	// Partition is the partition the attempt last worked with.
	Partition int32 `json:"partition,omitempty"`
	// RollbackReason says why the attempt is rolling back or rolled back.
	RollbackReason string `json:"rollbackReason,omitempty"`
	// Manual is true when the rollback was asked for by Upgrader.Rollback
	// (it does not count toward the rollback limit).
	Manual bool `json:"manual,omitempty"`
	// Message is a one-line, human-readable account of where the attempt
	// stands; when progress is blocked it names the pod, the stage, since
	// when, and what the last check printed.
	Message string `json:"message,omitempty"`
	// Pods records the slots the attempt is moving or has moved, ordered by
	// index. Slots the attempt never touched have no entry.
	Pods []PodProgress `json:"pods,omitempty"`
	// Retired lists the UIDs of the pods the Upgrader stopped (the driver
	// accepted their Delete), in either direction, the latest last; a new
	// attempt carries it over, and only the oldest are dropped (beyond 4
	// per replica). The Upgrader counts them as terminating whatever a
	// lagging pod list says, so it never counts a pod it stopped as
	// running, even after a rollback or a new target cleared Pods.
	Retired []string `json:"retired,omitempty"`
}

// Stage is where one slot stands in its transition.
type Stage string

// Stages of a slot, in the order a slot passes through them. A surge
// transition creates the new pod first and runs Failover and Deleting last.
const (
	StageFailover     Stage = "Failover"     // waiting for the primary role to move away
	StagePreCheck     Stage = "PreCheck"     // pre-upgrade check gating the stop
	StageDeleting     Stage = "Deleting"     // old pod deleted, waiting for it to be gone
	StageCreating     Stage = "Creating"     // new pod created, waiting for it to be listed
	StageWaitingReady Stage = "WaitingReady" // new pod listed, waiting for Ready
	StageVerifying    Stage = "Verifying"    // new pod ready, post-upgrade verification running
	StageDone         Stage = "Done"         // new pod ready and verified
	StageFailed       Stage = "Failed"       // the slot failed (see Failures)
)

// PodProgress is one slot's transition.
type PodProgress struct {
	Index int32 `json:"index"`
	// Stage of the slot.
	Stage Stage `json:"stage"`
	// Since is when the slot entered Stage.
	Since metav1.Time `json:"since"`
	// Version the slot is moving to.
	Version string `json:"version"`
	// Surge is true when the new pod is created beside the old one.
	Surge bool `json:"surge,omitempty"`
	// OldUID is the incarnation being replaced, once its deletion was asked for.
	OldUID string `json:"oldUID,omitempty"`
	// NewUID is the new incarnation once observed.
	NewUID string `json:"newUID,omitempty"`
	// VerifiedUID is the incarnation whose verification passed (and was
	// announced with a PodUpgraded event).
	VerifiedUID string `json:"verifiedUID,omitempty"`
	// Passes and Fails count consecutive check results in this stage;
	// Errors counts consecutive checks that could not run.
	Passes int32 `json:"passes,omitempty"`
	Fails  int32 `json:"fails,omitempty"`
	Errors int32 `json:"errors,omitempty"`
	// LastAttempt is when the stage's action (check, failover, delete,
	// create) was last attempted; nil before the first attempt.
	LastAttempt *metav1.Time `json:"lastAttempt,omitempty"`
	// Message is what the slot waits for, or what its last check printed.
	Message string `json:"message,omitempty"`
}

// Failure is one pod's failure during an attempt (design section 8.1).
type Failure struct {
	Index     int32       `json:"index"`
	Error     string      `json:"error"`
	Timestamp metav1.Time `json:"timestamp"`
	// Recovered is set once the slot is back in service (rolled back, or
	// upgraded on a later attempt).
	Recovered bool `json:"recovered"`
	// Reason classifies the failure: Timeout, PodFailed (with the pod's
	// reason), CheckFailed, CheckError, PreCheckFailed, FailoverFailed.
	Reason string `json:"reason,omitempty"`
}

// Condition types maintained by the Upgrader.
const (
	// ConditionProgressing is True while an attempt moves pods, with reason
	// Upgrading or RollingBack; False with Paused, Completed, RolledBack,
	// Failed or Blocked-style reasons otherwise.
	ConditionProgressing = "Progressing"
	// ConditionAvailable is True when every slot has a ready pod.
	ConditionAvailable = "Available"
	// ConditionDegraded is True when the attempt failed or a slot failed.
	ConditionDegraded = "Degraded"
)
