package e2e

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/kube"
)

// TestStatefulSetOnDeleteUpgradeAndRollback upgrades a StatefulSet
// (updateStrategy OnDelete) whose pods the real StatefulSet controller of
// kube-controller-manager recreates, then tries a version whose image
// cannot be pulled and checks the automatic rollback sets the template
// back.
func TestStatefulSetOnDeleteUpgradeAndRollback(t *testing.T) {
	env := need(t)
	t.Parallel()
	ctx := t.Context()
	ns := namespace(t, env.Client)
	node := startKubelet(t, env, ns, 300*time.Millisecond, 200*time.Millisecond)
	replicas := int32(3)
	tpl := podTemplate(node)
	tpl.Annotations = map[string]string{kube.AnnotationVersion: "v1"}
	tpl.Labels[kube.LabelVersion] = "v1"
	tpl.Spec.Containers[0].Image = "redis:v1"
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &replicas,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "redis"}},
			Template:            tpl,
			ServiceName:         "redis",
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			PodManagementPolicy: appsv1.ParallelPodManagement,
		},
	}
	if _, err := env.Client.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f := factory(env.Client, ns)
	d, err := kube.NewStatefulSetDriver(kube.StatefulSetConfig{
		Client: env.Client, Informers: f, Namespace: ns, Name: "redis",
		Version: kube.ImageVersion("redis", "redis"),
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, ctx, f)
	waitPods(t, d, 30*time.Second, "the StatefulSet controller to create the pods", steady(replicas, "v1"))

	// Surge is refused at validation time.
	bad, _ := upgrade.ParseSpec([]byte(`rollingUpdate: {maxUnavailable: 1}`))
	if _, err := d.NewUpgrader(bad); err == nil {
		t.Fatal("a spec with surge was accepted for a StatefulSet")
	}
	spec, err := upgrade.ParseSpec([]byte(`
rollingUpdate: {maxSurge: 0, maxUnavailable: 1, timeout: 30s, order: ReverseOrdinal}
rollback: {enabled: true, onFailure: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	u, err := d.NewUpgrader(spec)
	if err != nil {
		t.Fatal(err)
	}
	st := &status.Status{}
	steps(t, 30*time.Second, func() (upgrade.Result, error) {
		return d.Step(ctx, u, st, upgrade.Desired{Version: "v1", Replicas: replicas})
	})
	uids := map[string]string{}
	for _, p := range waitPods(t, d, 10*time.Second, "steady", steady(replicas, "v1")) {
		uids[p.Name] = p.UID
	}

	steps(t, 90*time.Second, func() (upgrade.Result, error) {
		return d.Step(ctx, u, st, upgrade.Desired{Version: "v2", Replicas: replicas})
	})
	if st.Phase != status.PhaseRunning || st.CurrentVersion != "v2" || st.UpgradeStatus.Phase != status.UpgradeCompleted {
		t.Fatalf("upgrade: %s", describeStatus(st))
	}
	for _, p := range waitPods(t, d, 10*time.Second, "steady at v2", steady(replicas, "v2")) {
		if uids[p.Name] == p.UID {
			t.Errorf("pod %s was not recreated", p.Name)
		}
	}
	if v, _ := d.TemplateVersion(); v != "v2" {
		t.Errorf("template at %q", v)
	}
	got, err := env.Client.AppsV1().StatefulSets(ns).Get(ctx, "redis", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := got.Spec.Template.Spec.Containers[0].Image; img != "redis:v2" {
		t.Errorf("template image %s", img)
	}

	steps(t, 90*time.Second, func() (upgrade.Result, error) {
		return d.Step(ctx, u, st, upgrade.Desired{Version: "bad", Replicas: replicas})
	})
	if st.Phase != status.PhaseRunning || st.CurrentVersion != "v2" || st.UpgradeStatus.Phase != status.UpgradeRolledBack || st.RollbackCount != 1 {
		t.Fatalf("rollback: %s", describeStatus(st))
	}
	waitPods(t, d, 30*time.Second, "steady at v2 after the rollback", steady(replicas, "v2"))
	if v, _ := d.TemplateVersion(); v != "v2" {
		t.Errorf("template left at %q after the rollback", v)
	}
}
