package kube_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/kube"
)

func stsGVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
}

func statefulSet(replicas int32, version string) *appsv1.StatefulSet {
	tpl := template()
	tpl.Labels = map[string]string{"app": "redis"}
	tpl.Annotations = map[string]string{kube.AnnotationVersion: version}
	tpl.Spec.Containers[0].Image = "redis:" + version
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &replicas,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "redis"}},
			Template:            tpl,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			PodManagementPolicy: appsv1.ParallelPodManagement,
		},
	}
}

type stsFixture struct {
	api     *fakeAPI
	factory informers.SharedInformerFactory
	d       *kube.StatefulSetDriver
	ctx     context.Context
	sts     *appsv1.StatefulSet
}

func newSTS(t *testing.T, sts *appsv1.StatefulSet) *stsFixture {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	fx := &stsFixture{api: newFakeAPI(t), ctx: ctx}
	created, err := fx.api.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fx.sts = created
	fx.factory = informers.NewSharedInformerFactoryWithOptions(fx.api, 0, informers.WithNamespace(ns))
	d, err := kube.NewStatefulSetDriver(kube.StatefulSetConfig{
		Client: fx.api, Informers: fx.factory, Namespace: ns, Name: "redis",
		Version: kube.ImageVersion("redis", "redis"),
	})
	if err != nil {
		t.Fatal(err)
	}
	fx.d = d
	startFactory(t, ctx, fx.factory)
	fx.api.ClearActions()
	return fx
}

// controller plays the StatefulSet controller (OnDelete): it creates each
// missing ordinal's pod from the current template.
func (fx *stsFixture) controller(t *testing.T) {
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-fx.ctx.Done():
				return
			case <-tick.C:
			}
			fx.api.mu.Lock()
			obj, err := fx.api.Tracker().Get(stsGVR(), ns, "redis")
			fx.api.mu.Unlock()
			if err != nil {
				continue
			}
			sts := obj.(*appsv1.StatefulSet)
			for i := range *sts.Spec.Replicas {
				name := "redis-" + strconv.Itoa(int(i))
				if fx.api.pod(name) != nil {
					continue
				}
				fx.api.putPod(t, stsPod(sts, i))
			}
		}
	}()
}

func stsPod(sts *appsv1.StatefulSet, i int32) *corev1.Pod {
	tpl := sts.Spec.Template.DeepCopy()
	p := &corev1.Pod{ObjectMeta: tpl.ObjectMeta, Spec: tpl.Spec}
	p.Name = sts.Name + "-" + strconv.Itoa(int(i))
	p.Namespace = ns
	p.Labels[kube.LabelPodIndex] = strconv.Itoa(int(i))
	p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(sts, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))}
	return p
}

func TestValidateSpecRefusesSurge(t *testing.T) {
	for _, tc := range []struct {
		surge *intstr.IntOrString
		ok    bool
	}{
		{nil, false},
		{ptr(intstr.FromInt32(1)), false},
		{ptr(intstr.FromString("25%")), false},
		{ptr(intstr.FromInt32(0)), true},
		{ptr(intstr.FromString("0%")), true},
	} {
		var s upgrade.Spec
		s.RollingUpdate.MaxSurge = tc.surge
		errs := kube.ValidateSpec(s)
		if (len(errs) == 0) != tc.ok {
			t.Errorf("maxSurge %v: errs = %v", tc.surge, errs)
		}
		if !tc.ok && !strings.Contains(errs.ToAggregate().Error(), "spec.rollingUpdate.maxSurge") {
			t.Errorf("maxSurge %v: error does not name the field: %v", tc.surge, errs)
		}
	}
	fx := newSTS(t, statefulSet(3, "v1"))
	spec, err := upgrade.ParseSpec([]byte("rollingUpdate: {maxUnavailable: 1}"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fx.d.NewUpgrader(spec)
	if err == nil || !strings.Contains(err.Error(), "kube: statefulset redis: invalid spec: spec.rollingUpdate.maxSurge") ||
		!strings.Contains(err.Error(), "cannot run two pods for one ordinal") {
		t.Fatalf("err = %v", err)
	}
	err = fx.d.Create(fx.ctx, 0, "v2", true)
	if err == nil || !strings.Contains(err.Error(), "kube: pod redis-0: surge is not possible") {
		t.Fatalf("surge Create: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestStatefulSetSetVersion(t *testing.T) {
	fx := newSTS(t, statefulSet(3, "v1"))
	if v, err := fx.d.TemplateVersion(); err != nil || v != "v1" {
		t.Fatalf("TemplateVersion = %q, %v", v, err)
	}
	if err := fx.d.SetVersion(fx.ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if n := len(fx.api.Actions()); n != 0 {
		t.Fatalf("SetVersion to the current version wrote: %v", fx.api.Actions())
	}
	if err := fx.d.SetVersion(fx.ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	// The cache may lag: a second call must not write again.
	if err := fx.d.SetVersion(fx.ctx, "v2"); err != nil {
		t.Fatal(err)
	}
	c := kube.CountActions(fx.api.Actions())
	if c.Writes != 1 || c.ByVerb["patch statefulsets"] != 1 || c.Reads != 0 {
		t.Fatalf("requests: %v", c)
	}
	sts, err := fx.api.AppsV1().StatefulSets(ns).Get(fx.ctx, "redis", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tpl := sts.Spec.Template
	if tpl.Spec.Containers[0].Image != "redis:v2" || tpl.Annotations[kube.AnnotationVersion] != "v2" || tpl.Labels[kube.LabelVersion] != "v2" {
		t.Fatalf("template = %+v", tpl)
	}
}

func TestStatefulSetNeedsOnDelete(t *testing.T) {
	s := statefulSet(3, "v1")
	s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}
	fx := newSTS(t, s)
	_, err := fx.d.Pods(fx.ctx)
	if err == nil || !strings.Contains(err.Error(), `kube: statefulset redis: updateStrategy is "RollingUpdate"; the driver needs OnDelete`) {
		t.Fatalf("err = %v", err)
	}
}

func TestStatefulSetPods(t *testing.T) {
	fx := newSTS(t, statefulSet(3, "v1"))
	fx.api.putPod(t, stsPod(fx.sts, 0))
	p1 := stsPod(fx.sts, 1)
	delete(p1.Labels, kube.LabelPodIndex) // older clusters: ordinal from the name
	markReady(p1)
	fx.api.putPod(t, p1)
	stray := stsPod(fx.sts, 2)
	stray.OwnerReferences = nil // matches the selector, not controlled
	fx.api.putPod(t, stray)
	var ps []upgrade.Pod
	eventually(t, "pods listed", func() bool {
		var err error
		ps, err = fx.d.Pods(fx.ctx)
		return err == nil && len(ps) == 2
	})
	if ps[0].Index != 0 || ps[0].Version != "v1" || ps[0].Ready || ps[1].Index != 1 || !ps[1].Ready {
		t.Fatalf("pods = %+v", ps)
	}
}

func TestStatefulSetCreateReplacesEarlyRecreation(t *testing.T) {
	fx := newSTS(t, statefulSet(3, "v1"))
	// The controller recreated pod 0 from the old template before the
	// template changed.
	early := fx.api.putPod(t, stsPod(fx.sts, 0))
	eventually(t, "pod listed", func() bool { ps, err := fx.d.Pods(fx.ctx); return err == nil && len(ps) == 1 })
	if err := fx.d.Create(fx.ctx, 0, "v2", false); err != nil {
		t.Fatal(err)
	}
	if p := fx.api.pod("redis-0"); p == nil || p.UID != early.UID || p.DeletionTimestamp == nil {
		t.Fatalf("early recreation not deleted: %+v", p)
	}
	if v, _ := fx.d.TemplateVersion(); v != "v2" {
		t.Fatalf("template at %q", v)
	}
	if err := fx.d.Create(fx.ctx, 5, "v2", false); err == nil || !strings.Contains(err.Error(), "outside the StatefulSet's 3 replicas") {
		t.Fatalf("ordinal out of range: %v", err)
	}
}

func TestTargetVersion(t *testing.T) {
	us := func(p status.UpgradePhase) *status.UpgradeStatus {
		return &status.UpgradeStatus{Phase: p, FromVersion: "v1", ToVersion: "v2"}
	}
	for _, tc := range []struct {
		st   *status.Status
		want string
	}{
		{nil, ""},
		{&status.Status{Phase: status.PhaseRunning, CurrentVersion: "v1"}, ""},
		{&status.Status{Phase: status.PhaseUpgrading, UpgradeStatus: us(status.UpgradeInProgress)}, "v2"},
		{&status.Status{Phase: status.PhaseUpgrading, UpgradeStatus: us(status.UpgradePaused)}, "v2"},
		{&status.Status{Phase: status.PhaseRunning, UpgradeStatus: us(status.UpgradeCompleted)}, "v2"},
		{&status.Status{Phase: status.PhaseRollingBack, UpgradeStatus: us(status.UpgradeRollingBack)}, "v1"},
		{&status.Status{Phase: status.PhaseRunning, UpgradeStatus: us(status.UpgradeRolledBack)}, "v1"},
		{&status.Status{Phase: status.PhaseFailed, UpgradeStatus: us(status.UpgradeFailed)}, ""},
	} {
		if got := kube.TargetVersion(tc.st); got != tc.want {
			t.Errorf("TargetVersion(%+v) = %q, want %q", tc.st, got, tc.want)
		}
	}
}

// TestStatefulSetUpgradeAndRollback drives the Upgrader over the driver with
// a fake StatefulSet controller and kubelet: an upgrade to v2, then one to
// a version whose image cannot be pulled, rolled back automatically.
func TestStatefulSetUpgradeAndRollback(t *testing.T) {
	fx := newSTS(t, statefulSet(3, "v1"))
	fx.controller(t)
	fx.api.kubelet(fx.ctx, t, func(p *corev1.Pod) func(*corev1.Pod) {
		if strings.HasSuffix(p.Spec.Containers[0].Image, ":bad") {
			return markWaiting("ImagePullBackOff")
		}
		return nil
	})
	spec, err := upgrade.ParseSpec([]byte(`
rollingUpdate: {maxSurge: 0, maxUnavailable: 1, timeout: 10s}
rollback: {enabled: true, onFailure: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	u, err := fx.d.NewUpgrader(spec)
	if err != nil {
		t.Fatal(err)
	}
	st := &status.Status{}
	want := upgrade.Desired{Version: "v1", Replicas: 3}
	waitSteady(t, fx.d, 3, "v1")
	stepUntil(t, fx.ctx, func() (upgrade.Result, error) { return fx.d.Step(fx.ctx, u, st, want) })
	want.Version = "v2"
	stepUntil(t, fx.ctx, func() (upgrade.Result, error) { return fx.d.Step(fx.ctx, u, st, want) })
	if st.Phase != status.PhaseRunning || st.CurrentVersion != "v2" || st.UpgradeStatus.Phase != status.UpgradeCompleted {
		t.Fatalf("after the upgrade: %+v %+v", st, st.UpgradeStatus)
	}
	waitSteady(t, fx.d, 3, "v2")
	want.Version = "bad"
	stepUntil(t, fx.ctx, func() (upgrade.Result, error) { return fx.d.Step(fx.ctx, u, st, want) })
	if st.Phase != status.PhaseRunning || st.CurrentVersion != "v2" || st.UpgradeStatus.Phase != status.UpgradeRolledBack || st.RollbackCount != 1 {
		t.Fatalf("after the bad upgrade: %+v %+v", st, st.UpgradeStatus)
	}
	waitSteady(t, fx.d, 3, "v2")
	if v, _ := fx.d.TemplateVersion(); v != "v2" {
		t.Fatalf("template left at %q after the rollback", v)
	}
	if f := st.UpgradeStatus.Failures; len(f) == 0 || !strings.Contains(f[0].Error, "ImagePullBackOff") {
		t.Errorf("failures = %+v", f)
	}
}

// stepUntil calls step until it reports Done, for at most 20 s.
func stepUntil(t *testing.T, ctx context.Context, step func() (upgrade.Result, error)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := step()
		if err != nil && !kube.IsStale(err) {
			t.Logf("step: %v", err)
		}
		if res.Done && err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done after 20 s (last error %v)", err)
		}
		wait := res.RequeueAfter
		if wait <= 0 || wait > 10*time.Millisecond {
			wait = 10 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(wait):
		}
	}
}

// waitSteady waits until every slot has one ready pod at version.
func waitSteady(t *testing.T, d upgrade.PodDriver, replicas int32, version string) []upgrade.Pod {
	t.Helper()
	var ps []upgrade.Pod
	eventually(t, "every slot ready at "+version, func() bool {
		var err error
		ps, err = d.Pods(t.Context())
		if err != nil || int32(len(ps)) != replicas {
			return false
		}
		for _, p := range ps {
			if !p.Ready || p.Version != version || p.Terminating {
				return false
			}
		}
		return true
	})
	return ps
}
