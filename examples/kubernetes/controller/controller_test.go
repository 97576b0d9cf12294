package controller

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rollgate/rollgate/status"
)

func TestParse(t *testing.T) {
	cm := &corev1.ConfigMap{Data: map[string]string{
		KeyReplicas: "3", KeyVersion: "7.2.4", KeyImage: "redis",
		KeySpec: "rollingUpdate: {maxSurge: 0, maxUnavailable: 1}\nrollback: {enabled: true, onFailure: true}\n",
	}}
	g, err := Parse(cm)
	if err != nil {
		t.Fatal(err)
	}
	if g.Replicas != 3 || g.Version != "7.2.4" || g.Image != "redis" || g.Spec.RollingUpdate.MaxUnavailable.IntValue() != 1 || !g.Spec.Rollback.Enabled {
		t.Fatalf("group = %+v", g)
	}
	for key, bad := range map[string]string{KeyReplicas: "three", KeyVersion: " ", KeySpec: "rollingUpdate: {maxSurge: 0, maxUnavailable: 0}"} {
		c := cm.DeepCopy()
		c.Data[key] = bad
		if _, err := Parse(c); err == nil || !strings.Contains(err.Error(), "data."+key) {
			t.Errorf("%s=%q: err = %v", key, bad, err)
		}
	}
}

func TestSignificant(t *testing.T) {
	a := &status.Status{Phase: status.PhaseUpgrading, UpgradeStatus: &status.UpgradeStatus{Phase: status.UpgradeInProgress, UpdatedReplicas: 1}}
	b := a.DeepCopy()
	b.UpgradeStatus.UpdatedReplicas = 2
	if significant(a, b) {
		t.Error("progress within a phase is significant")
	}
	b.UpgradeStatus.Phase = status.UpgradeCompleted
	if !significant(a, b) || !significant(nil, b) {
		t.Error("a phase change is not significant")
	}
}

// TestControllerOnFakeClientset runs the controller on the fake clientset,
// marking pods ready as a kubelet would, through an upgrade, and checks the
// status written back to the ConfigMap.
func TestControllerOnFakeClientset(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	client := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: "db", UID: "cm-uid"},
		Data: map[string]string{KeyReplicas: "3", KeyVersion: "v1", KeyImage: "redis",
			KeySpec: "rollingUpdate: {maxSurge: 1, maxUnavailable: 0}"},
	})
	// The fake tracker assigns no UIDs nor creation times, as an API server
	// does; the driver deletes by UID and the Upgrader times from creation.
	n := 0
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		n++
		p.UID = types.UID("uid-" + p.Name + "-" + strings.Repeat("x", n))
		p.CreationTimestamp = metav1.Now()
		return false, nil, nil
	})
	go func() { // the kubelet: every pod becomes ready
		for ctx.Err() == nil {
			l, err := client.CoreV1().Pods("db").List(ctx, metav1.ListOptions{})
			if err == nil {
				for i := range l.Items {
					p := &l.Items[i]
					if p.Status.Phase == corev1.PodRunning {
						continue
					}
					p.Status.Phase = corev1.PodRunning
					p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
					_, _ = client.CoreV1().Pods("db").UpdateStatus(ctx, p, metav1.UpdateOptions{})
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	c, err := New(Config{Client: client, Namespace: "db", Name: "redis", StatusInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	wait := func(what string, cond func(*status.Status) bool) {
		t.Helper()
		for {
			cm, err := client.CoreV1().ConfigMaps("db").Get(ctx, "redis", metav1.GetOptions{})
			if err == nil && cm.Data[KeyStatus] != "" {
				var st status.Status
				if json.Unmarshal([]byte(cm.Data[KeyStatus]), &st) == nil && cond(&st) {
					return
				}
			}
			if ctx.Err() != nil {
				t.Fatalf("timed out waiting for %s; status %s", what, cm.Data[KeyStatus])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait("running v1", func(st *status.Status) bool { return st.Phase == status.PhaseRunning && st.CurrentVersion == "v1" })
	patch := []byte(`{"data":{"version":"v2"}}`)
	if _, err := client.CoreV1().ConfigMaps("db").Patch(ctx, "redis", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	wait("completed v2", func(st *status.Status) bool {
		return st.CurrentVersion == "v2" && st.UpgradeStatus != nil && st.UpgradeStatus.Phase == status.UpgradeCompleted
	})
	l, err := client.CoreV1().Pods("db").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range l.Items {
		if p.Spec.Containers[0].Image != "redis:v2" || metav1.GetControllerOf(&p) == nil || metav1.GetControllerOf(&p).Kind != "ConfigMap" {
			t.Errorf("pod %s: image %s owner %+v", p.Name, p.Spec.Containers[0].Image, p.OwnerReferences)
		}
	}
	if len(l.Items) != 3 {
		t.Errorf("%d pods", len(l.Items))
	}
	if s := c.Stats(); s.Steps == 0 || s.StatusWrites == 0 {
		t.Errorf("stats %+v", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
