package upgradetest

import (
	"fmt"
	"strings"
	"time"

	"github.com/rollgate/rollgate/upgrade"
)

// ActionKind names a driver call recorded in the action log.
type ActionKind string

// Kinds of recorded calls. AnyAction matches every kind where a kind
// selects calls (reactors, faults).
const (
	ActionPods     ActionKind = "Pods"     // Driver.Pods
	ActionCreate   ActionKind = "Create"   // Driver.Create
	ActionDelete   ActionKind = "Delete"   // Driver.Delete
	ActionFailover ActionKind = "Failover" // Driver.Failover
	ActionExec     ActionKind = "Exec"     // Driver.Exec (verify.PodAccess)
	ActionGet      ActionKind = "Get"      // Driver.Get (verify.PodAccess)
	ActionVerify   ActionKind = "Verify"   // the Verify method of Driver.Verifier
	AnyAction      ActionKind = "*"        // every kind, in reactors and faults
)

// Action is one call made to a Driver, as recorded in its action log (see
// Driver.Actions). Every call is recorded once it returns, whether it
// succeeded, failed or was handled by a reactor.
type Action struct {
	// Seq numbers the actions of one Driver from 1 in the order the calls
	// returned; it never repeats, even after ClearActions.
	Seq int
	// Kind of the call.
	Kind ActionKind
	// Call is the 1-based number of this call among the calls of its Kind
	// since the Driver was built (what CallFault.Nth counts).
	Call int
	// Time is the fake clock's time when the call took effect.
	Time time.Time

	// Index is the slot: Create's index; for Delete, Failover, Exec, Get and
	// Verify the slot of the pod addressed. -1 for Pods.
	Index int32
	// Version is Create's version, or the version of the pod addressed.
	Version string
	// Surge is Create's surge argument.
	Surge bool
	// Pod is the name of the pod addressed, or of the pod Create made.
	Pod string
	// UID is the UID of the pod addressed (Delete's precondition), or of the
	// pod Create made.
	UID string
	// Command is Exec's command; Port and Path are Get's arguments.
	Command string
	Port    int32
	Path    string

	// Err is what the call returned.
	Err error
	// Effective reports that the call changed the group: Create made a pod,
	// Delete moved a pod to Terminating, Failover started moving the role.
	// A Delete of a pod already terminating or gone, a refused Delete (UID
	// precondition) and a Failover of a pod that is not primary are not
	// effective. A write followed by an injected "after effect" error is
	// effective.
	Effective bool
	// Handled reports that a reactor handled the call (the driver did
	// nothing itself and returned the reactor's error).
	Handled bool

	// Before and After are the group exactly as it was just before and just
	// after the call took effect (the truth, no lag or staleness), for
	// Create, Delete and Failover calls that reached the driver (nil when a
	// reactor handled the call, an injected fault refused it or its context
	// had ended).
	Before, After []upgrade.Pod
	// Returned is what a Pods call returned (the possibly stale view).
	Returned []upgrade.Pod
}

// String renders the action on one line, such as
// `#3 Delete db-1 (slot 1, v1, uid-2) effective`.
func (a Action) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s", a.Seq, a.Kind)
	switch a.Kind {
	case ActionPods:
		fmt.Fprintf(&b, " -> %d pods", len(a.Returned))
	case ActionCreate:
		fmt.Fprintf(&b, " slot %d at %s", a.Index, a.Version)
		if a.Surge {
			b.WriteString(" surge")
		}
		if a.Pod != "" {
			fmt.Fprintf(&b, " -> %s (%s)", a.Pod, a.UID)
		}
	default:
		fmt.Fprintf(&b, " %s (slot %d, %s, %s)", a.Pod, a.Index, a.Version, a.UID)
		if a.Kind == ActionExec {
			fmt.Fprintf(&b, " %q", a.Command)
		}
		if a.Kind == ActionGet {
			fmt.Fprintf(&b, " :%d%s", a.Port, a.Path)
		}
	}
	if a.Effective {
		b.WriteString(" effective")
	}
	if a.Handled {
		b.WriteString(" handled")
	}
	if a.Err != nil {
		fmt.Fprintf(&b, " error: %v", a.Err)
	}
	return b.String()
}

// Reactor intercepts calls before the driver acts, in the manner of
// client-go's testing.Fake reactors. It gets the call as an Action (Seq,
// Err, Effective, Before and After not yet set). Returning handled=true
// makes the call return err without any effect (a Pods call then returns
// no pods); handled=false passes the call on to the next reactor and then
// to the driver. Reactors run without the driver's lock held, so they may
// call the Driver's methods (Kill, SetReady, the clock...).
type Reactor func(a Action) (handled bool, err error)

// CallFault injects an error into calls of one kind. Faults are matched by
// call number, so they are deterministic.
type CallFault struct {
	// Kind of call to fail; AnyAction counts the calls of every kind.
	Kind ActionKind
	// Nth is the 1-based number of the first call to fail, counted among
	// the calls of Kind since the Driver was built (see Action.Call). 0
	// means the next call.
	Nth int
	// Times is how many consecutive calls fail; 0 means 1, a negative value
	// means every call from Nth on.
	Times int
	// Err is the error returned, wrapped in an *InjectedError; nil gives a
	// generic message.
	Err error
	// AfterEffect makes the call do its work first and then return the
	// error (a write whose reply was lost). For Pods, Exec, Get and Verify
	// it makes no difference.
	AfterEffect bool
}

// InjectedError is the error a CallFault makes a call return.
type InjectedError struct {
	Kind ActionKind
	// Call is the call number (see Action.Call).
	Call int
	// AfterEffect reports that the call's effect happened anyway.
	AfterEffect bool
	// Err is CallFault.Err (may be nil).
	Err error
}

// Error says which call failed and why.
func (e *InjectedError) Error() string {
	what := "injected fault"
	if e.AfterEffect {
		what = "injected fault after the write took effect"
	}
	if e.Err != nil {
		return fmt.Sprintf("upgradetest: %s call %d: %s: %v", e.Kind, e.Call, what, e.Err)
	}
	return fmt.Sprintf("upgradetest: %s call %d: %s", e.Kind, e.Call, what)
}

// Unwrap returns CallFault.Err.
func (e *InjectedError) Unwrap() error { return e.Err }

// ConflictError is returned by Delete and Failover when the pod's UID is not
// the UID of the current pod of that name (a stale view): nothing was done,
// as Kubernetes answers 409 Conflict to a failed precondition.
type ConflictError struct {
	Op   string
	Name string
	// UID is the UID given; CurrentUID the UID of the pod now named Name.
	UID, CurrentUID string
}

// Error names the pod and both UIDs.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("upgradetest: %s pod %q: precondition failed: UID %q is not the current pod's UID %q", e.Op, e.Name, e.UID, e.CurrentUID)
}

// AlreadyExistsError is returned by Create when the pod name it would use is
// still held by an existing pod (terminating or not): nothing was created.
type AlreadyExistsError struct {
	Name string
	// UID of the pod that holds the name, and whether it is terminating.
	UID         string
	Terminating bool
}

// Error names the pod.
func (e *AlreadyExistsError) Error() string {
	state := "running"
	if e.Terminating {
		state = "terminating"
	}
	return fmt.Sprintf("upgradetest: create pod %q: already exists (%s, %s)", e.Name, e.UID, state)
}
