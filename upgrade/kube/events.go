package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/rollgate/rollgate/upgrade"
)

// EventNotifier is an upgrade.Notifier that records each event as a
// Kubernetes Event on the operator's object. The Event type is Warning for
// events the Upgrader marks as warnings and for every failure and rollback
// reason (UpgradeFailed, PodFailed, PrecheckFailed, RollbackStarted,
// RollbackCompleted, RollbackFailed, RollbackLimitReached), Normal
// otherwise. Events about one slot name it in the message ("pod 2: ...").
// Recording never blocks the Upgrader: the recorder queues events and drops
// them when its queue is full.
type EventNotifier struct {
	// Recorder records the events. Required.
	Recorder record.EventRecorder
	// Object is the operator's object the events are about. Required.
	Object runtime.Object
}

// NewEventNotifier returns an EventNotifier recording on obj.
func NewEventNotifier(rec record.EventRecorder, obj runtime.Object) *EventNotifier {
	return &EventNotifier{Recorder: rec, Object: obj}
}

// WarningReason reports whether an event with reason is recorded as a
// Warning whatever its Warning flag says.
func WarningReason(reason string) bool {
	switch reason {
	case upgrade.ReasonUpgradeFailed, upgrade.ReasonPodFailed, upgrade.ReasonPrecheckFailed,
		upgrade.ReasonRollbackStarted, upgrade.ReasonRollbackCompleted,
		upgrade.ReasonRollbackFailed, upgrade.ReasonRollbackLimitReached:
		return true
	}
	return false
}

// Notify records e on the object.
func (n *EventNotifier) Notify(_ context.Context, e upgrade.Event) {
	if n == nil || n.Recorder == nil || n.Object == nil {
		return
	}
	typ := corev1.EventTypeNormal
	if e.Warning || WarningReason(e.Reason) {
		typ = corev1.EventTypeWarning
	}
	msg := e.Message
	if e.Index >= 0 {
		msg = fmt.Sprintf("pod %d: %s", e.Index, msg)
	}
	n.Recorder.Event(n.Object, typ, e.Reason, msg)
}

// NewRecorder returns an EventRecorder that writes Events through client
// (events of every namespace go to the object's namespace), with source
// component, and the function that stops it and flushes nothing further.
// sch must know the types of the objects events are recorded on (nil: the
// client-go scheme, which knows the built-in types).
func NewRecorder(client kubernetes.Interface, sch *runtime.Scheme, component string) (record.EventRecorder, func()) {
	if sch == nil {
		sch = clientgoScheme()
	}
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	rec := b.NewRecorder(sch, corev1.EventSource{Component: component})
	return rec, b.Shutdown
}
