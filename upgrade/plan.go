package upgrade

import (
	"fmt"
	"strings"
)

// ActionKind names what an Action does.
type ActionKind string

// Action kinds. Create, Delete and Failover write through the driver;
// PreCheck and Verify run checks; the rest change only the status.
const (
	ActionCreate   ActionKind = "Create"
	ActionDelete   ActionKind = "Delete"
	ActionFailover ActionKind = "Failover"
	ActionPreCheck ActionKind = "PreCheck"
	ActionVerify   ActionKind = "Verify"
	// ActionWait: the slot waits (for Ready, for a pod to go, for the next
	// check); Reason says what for.
	ActionWait ActionKind = "Wait"
	// ActionStartUpgrade runs the compatibility prechecks and starts an
	// attempt (or records their refusal).
	ActionStartUpgrade ActionKind = "StartUpgrade"
	// ActionRetarget moves an attempt in flight to a new desired version.
	ActionRetarget ActionKind = "Retarget"
	// ActionStartRollback, ActionComplete, ActionPause and ActionFail are
	// attempt-level transitions (Index -1).
	ActionStartRollback ActionKind = "StartRollback"
	ActionComplete      ActionKind = "Complete"
	ActionPause         ActionKind = "Pause"
	ActionFail          ActionKind = "Fail"
)

// Action is one thing a Step does, or would do.
type Action struct {
	Kind  ActionKind
	Index int32
	// Version is the version a Create starts, or the version of the pod a
	// Delete, Failover or check acts on.
	Version string
	// Pod names the pod acted on (empty for Create).
	Pod string
	// Surge is true for a Create beside the slot's old pod.
	Surge bool
	// Reason explains a Wait or a transition.
	Reason string

	podAt int32 // the position in the Step's pod list of the pod acted on
}

// String renders the action on one line.
func (a Action) String() string {
	var b strings.Builder
	b.WriteString(string(a.Kind))
	if a.Index >= 0 {
		fmt.Fprintf(&b, " slot %d", a.Index)
	}
	if a.Pod != "" {
		fmt.Fprintf(&b, " pod %s", a.Pod)
	}
	if a.Version != "" {
		fmt.Fprintf(&b, " version %s", a.Version)
	}
	if a.Surge {
		b.WriteString(" (surge)")
	}
	if a.Reason != "" {
		fmt.Fprintf(&b, ": %s", a.Reason)
	}
	return b.String()
}

// Plan is what Step would do now, computed without side effects: the dry
// run of an upgrade.
type Plan struct {
	From, To string
	// Order lists the slots still to move, in the order they will move.
	Order []int32
	// Held lists the slots below the partition, which the upgrade leaves
	// alone.
	Held []int32
	// Next lists what the next Step would do.
	Next []Action
	// MaxSurge and MaxUnavailable are the budgets resolved against replicas.
	MaxSurge, MaxUnavailable int32
	// Phase is the upgrade phase after the next Step's decision (empty
	// when no attempt exists).
	Phase string
	// Message is the status message the next Step would write.
	Message string
}

// String prints the plan for a dry run.
func (p Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "upgrade %s -> %s", orNone(p.From), orNone(p.To))
	if p.Phase != "" {
		fmt.Fprintf(&b, " (%s)", p.Phase)
	}
	b.WriteByte('\n')
	fmt.Fprintf(&b, "  budget:  maxSurge %d, maxUnavailable %d\n", p.MaxSurge, p.MaxUnavailable)
	fmt.Fprintf(&b, "  order:   %s\n", joinIdx(p.Order))
	fmt.Fprintf(&b, "  held:    %s\n", joinIdx(p.Held))
	if p.Message != "" {
		fmt.Fprintf(&b, "  status:  %s\n", p.Message)
	}
	if len(p.Next) == 0 {
		b.WriteString("  next:    nothing to do\n")
		return b.String()
	}
	b.WriteString("  next:\n")
	for _, a := range p.Next {
		fmt.Fprintf(&b, "    - %s\n", a)
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func joinIdx(idx []int32) string {
	if len(idx) == 0 {
		return "none"
	}
	parts := make([]string, len(idx))
	for i, v := range idx {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}
