package kube_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/kube"
)

func TestEventNotifierTypes(t *testing.T) {
	rec := record.NewFakeRecorder(20)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: ns}}
	n := kube.NewEventNotifier(rec, cm)
	ctx := context.Background()
	n.Notify(ctx, upgrade.Event{Reason: upgrade.ReasonUpgradeStarted, Message: "upgrade v1 -> v2 started", Index: -1})
	n.Notify(ctx, upgrade.Event{Reason: upgrade.ReasonPodUpgraded, Message: "redis-2 runs v2", Index: 2})
	n.Notify(ctx, upgrade.Event{Reason: upgrade.ReasonRollbackStarted, Message: "rolling back", Index: -1})
	n.Notify(ctx, upgrade.Event{Reason: upgrade.ReasonRollbackCompleted, Message: "rolled back", Index: -1})
	n.Notify(ctx, upgrade.Event{Reason: "Custom", Message: "flagged", Index: -1, Warning: true})
	n.Notify(ctx, upgrade.Event{Reason: upgrade.ReasonUpgradeCompleted, Message: "done", Index: -1})
	want := []string{
		"Normal UpgradeStarted upgrade v1 -> v2 started",
		"Normal PodUpgraded pod 2: redis-2 runs v2",
		"Warning RollbackStarted rolling back",
		"Warning RollbackCompleted rolled back",
		"Warning Custom flagged",
		"Normal UpgradeCompleted done",
	}
	for i, w := range want {
		got := <-rec.Events
		if got != w {
			t.Errorf("event %d = %q, want %q", i, got, w)
		}
	}
	for _, r := range []string{upgrade.ReasonUpgradeFailed, upgrade.ReasonPodFailed, upgrade.ReasonPrecheckFailed, upgrade.ReasonRollbackFailed, upgrade.ReasonRollbackLimitReached} {
		if !kube.WarningReason(r) {
			t.Errorf("%s is not a warning", r)
		}
	}
	// A nil or unconfigured notifier is a no-op.
	var nilN *kube.EventNotifier
	nilN.Notify(ctx, upgrade.Event{Reason: "x"})
}

func TestNewRecorderWritesEvents(t *testing.T) {
	client := fake.NewClientset()
	rec, stop := kube.NewRecorder(client, nil, "rollgate")
	defer stop()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: ns, UID: "cm-uid"}}
	kube.NewEventNotifier(rec, cm).Notify(t.Context(), upgrade.Event{Reason: upgrade.ReasonUpgradeFailed, Message: "pod redis-1 failed: ImagePullBackOff", Index: 1})
	var ev corev1.Event
	eventually(t, "the Event to be written", func() bool {
		l, err := client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil || len(l.Items) == 0 {
			return false
		}
		ev = l.Items[0]
		return true
	})
	if ev.Type != corev1.EventTypeWarning || ev.Reason != upgrade.ReasonUpgradeFailed || ev.InvolvedObject.Kind != "ConfigMap" ||
		ev.InvolvedObject.Name != "redis" || ev.Source.Component != "rollgate" || !strings.Contains(ev.Message, "pod 1: pod redis-1 failed") {
		t.Fatalf("event = %+v", ev)
	}
}
