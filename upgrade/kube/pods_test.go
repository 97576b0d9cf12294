package kube_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/kube"
	"github.com/rollgate/rollgate/upgrade/upgradetest"
	"github.com/rollgate/rollgate/verify"
)

func template() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "redis"}, Annotations: map[string]string{"note": "kept"}},
		Spec: corev1.PodSpec{
			NodeName:   "node-1",
			Containers: []corev1.Container{{Name: "redis", Image: "redis:placeholder"}},
		},
	}
}

type podsFixture struct {
	api     *fakeAPI
	view    *fake.Clientset // nil unless lagging: the clientset the informer watches
	factory informers.SharedInformerFactory
	d       *kube.PodsDriver
	ctx     context.Context
	clock   *clocktesting.FakeClock
}

// newPods builds a PodsDriver on a fake API. With lag the informer watches
// a second clientset that only changes when sync is called, so the cache
// lags behind the driver's writes for as long as the test wants.
func newPods(t *testing.T, lag bool, mutate func(*kube.PodsConfig)) *podsFixture {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	fx := &podsFixture{api: newFakeAPI(t), ctx: ctx, clock: clocktesting.NewFakeClock(time.Now())}
	var watched = fx.api.Clientset
	if lag {
		fx.view = fake.NewClientset()
		watched = fx.view
	}
	fx.factory = informers.NewSharedInformerFactoryWithOptions(watched, 0, informers.WithNamespace(ns))
	ctrl := true
	cfg := kube.PodsConfig{
		Client:    fx.api,
		Informers: fx.factory,
		Namespace: ns,
		Group:     "redis",
		Template:  template(),
		Version:   kube.ImageVersion("redis", "redis"),
		Owner:     &metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "redis", UID: "owner-uid", Controller: &ctrl},
		Clock:     fx.clock,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	d, err := kube.NewPodsDriver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fx.d = d
	startFactory(t, ctx, fx.factory)
	return fx
}

// sync copies the fake API's pods into the lagging view.
func (fx *podsFixture) sync(t *testing.T) {
	t.Helper()
	if fx.view == nil {
		return
	}
	want := map[string]*corev1.Pod{}
	for _, p := range fx.api.pods() {
		want[p.Name] = p
	}
	have, err := fx.view.Tracker().List(podsGVR(), corev1.SchemeGroupVersion.WithKind("Pod"), ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range have.(*corev1.PodList).Items {
		if w, ok := want[p.Name]; !ok || w.UID != p.UID {
			if err := fx.view.Tracker().Delete(podsGVR(), ns, p.Name); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range want {
		if _, err := fx.view.Tracker().Get(podsGVR(), ns, p.Name); err == nil {
			err = fx.view.Tracker().Update(podsGVR(), p, ns)
			if err != nil {
				t.Fatal(err)
			}
		} else if err := fx.view.Tracker().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	inf := fx.factory.Core().V1().Pods().Informer()
	eventually(t, "the lagging cache to catch up", func() bool {
		objs := inf.GetIndexer().List()
		if len(objs) != len(want) {
			return false
		}
		for _, o := range objs {
			p := o.(*corev1.Pod)
			w, ok := want[p.Name]
			if !ok || w.ResourceVersion != p.ResourceVersion {
				return false
			}
		}
		return true
	})
}

func (fx *podsFixture) pods(t *testing.T) []upgrade.Pod {
	t.Helper()
	ps, err := fx.d.Pods(fx.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func (fx *podsFixture) waitPods(t *testing.T, what string, cond func([]upgrade.Pod) bool) []upgrade.Pod {
	t.Helper()
	var ps []upgrade.Pod
	eventually(t, what, func() bool {
		var err error
		ps, err = fx.d.Pods(fx.ctx)
		return err == nil && cond(ps)
	})
	return ps
}

func byName(ps []upgrade.Pod, name string) (upgrade.Pod, bool) {
	for _, p := range ps {
		if p.Name == name {
			return p, true
		}
	}
	return upgrade.Pod{}, false
}

func TestPodsCreateBuildsThePod(t *testing.T) {
	fx := newPods(t, false, nil)
	if err := fx.d.Create(fx.ctx, 2, "7.2.4", false); err != nil {
		t.Fatal(err)
	}
	p := fx.api.pod("redis-2")
	if p == nil {
		t.Fatal("pod redis-2 not created")
	}
	if got := p.Spec.Containers[0].Image; got != "redis:7.2.4" {
		t.Errorf("image = %q, want redis:7.2.4", got)
	}
	for k, v := range map[string]string{"app": "redis", kube.LabelGroup: "redis", kube.LabelIndex: "2", kube.LabelVersion: "7.2.4"} {
		if p.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, p.Labels[k], v)
		}
	}
	if p.Annotations[kube.AnnotationVersion] != "7.2.4" || p.Annotations["note"] != "kept" {
		t.Errorf("annotations = %v", p.Annotations)
	}
	if _, ok := p.Labels[kube.LabelSurge]; ok {
		t.Errorf("a non-surge pod carries %s", kube.LabelSurge)
	}
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.UID != "owner-uid" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("controller ref = %+v", ref)
	}
	ps := fx.waitPods(t, "redis-2 listed", func(ps []upgrade.Pod) bool { return len(ps) == 1 })
	if got := ps[0]; got.Index != 2 || got.Version != "7.2.4" || got.Ready || got.UID != string(p.UID) || got.Created.IsZero() || got.Terminating {
		t.Errorf("Pods()[0] = %+v", got)
	}
}

func TestPodsVersionThatIsNoLabelValue(t *testing.T) {
	fx := newPods(t, false, func(c *kube.PodsConfig) {
		c.Version = func(tpl *corev1.PodTemplateSpec, v string) error { return nil }
	})
	v := "1.0+build.5"
	if err := fx.d.Create(fx.ctx, 0, v, false); err != nil {
		t.Fatal(err)
	}
	p := fx.api.pod("redis-0")
	if _, ok := p.Labels[kube.LabelVersion]; ok {
		t.Errorf("invalid label value stored as label: %v", p.Labels)
	}
	ps := fx.waitPods(t, "pod listed", func(ps []upgrade.Pod) bool { return len(ps) == 1 })
	if ps[0].Version != v {
		t.Errorf("version = %q, want %q", ps[0].Version, v)
	}
}

func TestPodsSurgeNamesAlternate(t *testing.T) {
	fx := newPods(t, false, nil)
	ctx := fx.ctx
	if err := fx.d.Create(ctx, 0, "v1", false); err != nil {
		t.Fatal(err)
	}
	fx.waitPods(t, "redis-0", func(ps []upgrade.Pod) bool { return len(ps) == 1 })
	if err := fx.d.Create(ctx, 0, "v2", true); err != nil {
		t.Fatal(err)
	}
	surge := fx.api.pod("redis-0-surge")
	if surge == nil || surge.Labels[kube.LabelSurge] != "true" || surge.Labels[kube.LabelIndex] != "0" {
		t.Fatalf("surge pod = %+v", surge)
	}
	// A repeated surge Create (a lost reply, a lagging view) makes nothing.
	if err := fx.d.Create(ctx, 0, "v2", true); err != nil {
		t.Fatal(err)
	}
	if n := len(fx.api.pods()); n != 2 {
		t.Fatalf("%d pods after a repeated surge Create, want 2", n)
	}
	ps := fx.waitPods(t, "both pods", func(ps []upgrade.Pod) bool { return len(ps) == 2 })
	old, _ := byName(ps, "redis-0")
	if err := fx.d.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := fx.api.finalize("redis-0"); err != nil {
		t.Fatal(err)
	}
	fx.waitPods(t, "surge pod alone", func(ps []upgrade.Pod) bool { return len(ps) == 1 && ps[0].Name == "redis-0-surge" })
	// The next surge beside redis-0-surge takes the slot's first name.
	if err := fx.d.Create(ctx, 0, "v3", true); err != nil {
		t.Fatal(err)
	}
	if p := fx.api.pod("redis-0"); p == nil || kube.Version(p.ObjectMeta) != "v3" {
		t.Fatalf("second surge pod = %+v", p)
	}
	// A third pod for the slot is refused.
	fx.waitPods(t, "two pods", func(ps []upgrade.Pod) bool { return len(ps) == 2 })
	// Refused from the cache ("already has two pods") or, when the informer
	// has not delivered the second pod yet, by the API server's
	// AlreadyExists on the name: either way no third pod.
	err := fx.d.Create(ctx, 0, "v4", true)
	if err == nil || !(strings.Contains(err.Error(), "already has two pods") || strings.Contains(err.Error(), "already exists")) {
		t.Fatalf("third pod: err = %v", err)
	}
	if n := len(fx.api.pods()); n != 2 {
		t.Fatalf("%d pods on the server after a third Create, want 2", n)
	}
}

func TestPodsCreateWhileOldTerminates(t *testing.T) {
	fx := newPods(t, false, nil)
	if err := fx.d.Create(fx.ctx, 1, "v1", false); err != nil {
		t.Fatal(err)
	}
	ps := fx.waitPods(t, "redis-1", func(ps []upgrade.Pod) bool { return len(ps) == 1 })
	if err := fx.d.Delete(fx.ctx, ps[0]); err != nil {
		t.Fatal(err)
	}
	// The old pod is terminating (a node-bound pod waits for its kubelet);
	// a non-surge Create takes the slot's other name.
	if err := fx.d.Create(fx.ctx, 1, "v2", false); err != nil {
		t.Fatal(err)
	}
	if p := fx.api.pod("redis-1-surge"); p == nil || kube.Version(p.ObjectMeta) != "v2" {
		t.Fatalf("replacement = %+v", p)
	}
	// Repeating the non-surge Create is a no-op.
	if err := fx.d.Create(fx.ctx, 1, "v2", false); err != nil {
		t.Fatal(err)
	}
	if n := len(fx.api.pods()); n != 2 {
		t.Fatalf("%d pods, want 2", n)
	}
}

func TestPodsCreateAlreadyExists(t *testing.T) {
	fx := newPods(t, true, nil) // the cache shows nothing until sync
	// The server holds the pod but the cache does not show it: a repeated
	// Create whose first reply was lost. Not an error.
	fx.api.putPod(t, readyPod("redis-0", 0, "v1"))
	if err := fx.d.Create(fx.ctx, 0, "v1", false); err != nil {
		t.Fatalf("Create over a pod the cache does not show yet: %v", err)
	}
	// A pod that is not the group's holds the name: an error naming it.
	fx.api.putPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "redis-1", Labels: map[string]string{"app": "other"}}})
	fx.sync(t)
	err := fx.d.Create(fx.ctx, 1, "v1", false)
	if err == nil || !strings.Contains(err.Error(), `kube: pod redis-1: the name is still held by a pod at version ""`) {
		t.Fatalf("err = %v", err)
	}
}

func TestPodsDeleteStaleUID(t *testing.T) {
	fx := newPods(t, true, nil)
	old := fx.api.putPod(t, readyPod("redis-0", 0, "v1"))
	fx.sync(t)
	stale := fx.pods(t)[0]
	// Someone replaces the pod: same name, new UID. The cache lags.
	if err := fx.api.finalize("redis-0"); err != nil {
		t.Fatal(err)
	}
	newer := fx.api.putPod(t, readyPod("redis-0", 0, "v1"))
	if newer.UID == old.UID {
		t.Fatal("same UID")
	}
	fx.api.ClearActions()
	if err := fx.d.Delete(fx.ctx, stale); err != nil {
		t.Fatalf("Delete of a replaced incarnation: %v (want nil: it is gone)", err)
	}
	if p := fx.api.pod("redis-0"); p == nil || p.UID != newer.UID || p.DeletionTimestamp != nil {
		t.Fatalf("the newer incarnation was touched: %+v", p)
	}
	// The delete carried the UID precondition.
	var sawPrecondition bool
	for _, a := range fx.api.Actions() {
		if da, ok := a.(interface {
			GetDeleteOptions() metav1.DeleteOptions
		}); ok && a.GetVerb() == "delete" {
			pre := da.GetDeleteOptions().Preconditions
			sawPrecondition = pre != nil && pre.UID != nil && *pre.UID == old.UID && pre.ResourceVersion != nil
		}
	}
	if !sawPrecondition {
		t.Errorf("delete without UID and resourceVersion preconditions: %v", fx.api.Actions())
	}
}

func TestPodsDeleteChangedPodIsStale(t *testing.T) {
	fx := newPods(t, true, nil)
	fx.api.putPod(t, readyPod("redis-0", 0, "v1"))
	fx.sync(t)
	seen := fx.pods(t)[0]
	// The pod changes (it became unready, say) after the view was taken.
	fx.api.setStatus(t, "redis-0", markWaiting("CrashLoopBackOff"))
	err := fx.d.Delete(fx.ctx, seen)
	if !kube.IsStale(err) {
		t.Fatalf("err = %v, want a StaleError", err)
	}
	var se *kube.StaleError
	if !errors.As(err, &se) || se.Pod != "redis-0" || !strings.Contains(err.Error(), "kube: pod redis-0:") {
		t.Errorf("error = %v", err)
	}
	if p := fx.api.pod("redis-0"); p.DeletionTimestamp != nil {
		t.Fatal("a pod that changed since it was observed was deleted")
	}
	// On a fresh view the delete goes through.
	fx.sync(t)
	if err := fx.d.Delete(fx.ctx, fx.pods(t)[0]); err != nil {
		t.Fatal(err)
	}
	if p := fx.api.pod("redis-0"); p.DeletionTimestamp == nil {
		t.Fatal("not deleted")
	}
}

func TestPodsDeleteGoneOrTerminating(t *testing.T) {
	fx := newPods(t, false, nil)
	fx.api.putPod(t, readyPod("redis-0", 0, "v1"))
	ps := fx.waitPods(t, "pod", func(ps []upgrade.Pod) bool { return len(ps) == 1 })
	if err := fx.d.Delete(fx.ctx, ps[0]); err != nil {
		t.Fatal(err)
	}
	fx.api.ClearActions()
	// Deleting the terminating pod again makes no request.
	if err := fx.d.Delete(fx.ctx, ps[0]); err != nil {
		t.Fatal(err)
	}
	if n := len(fx.api.Actions()); n != 0 {
		t.Errorf("a second Delete made %d requests: %v", n, fx.api.Actions())
	}
	if err := fx.api.finalize("redis-0"); err != nil {
		t.Fatal(err)
	}
	fx.waitPods(t, "pod gone", func(ps []upgrade.Pod) bool { return len(ps) == 0 })
	if err := fx.d.Delete(fx.ctx, ps[0]); err != nil {
		t.Fatalf("Delete of a gone pod: %v", err)
	}
	if err := fx.d.Delete(fx.ctx, upgrade.Pod{Name: "redis-0"}); err == nil {
		t.Error("Delete without a UID accepted")
	}
}

func readyPod(name string, index int32, version string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns,
			Labels:      map[string]string{kube.LabelGroup: "redis", kube.LabelIndex: itoa(index), kube.LabelVersion: version},
			Annotations: map[string]string{kube.AnnotationVersion: version},
		},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "redis", Image: "redis:" + version}}},
	}
	markReady(p)
	return p
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }

func TestPodsInformerLag(t *testing.T) {
	fx := newPods(t, true, nil)
	ctx := fx.ctx
	fx.api.putPod(t, readyPod("redis-0", 0, "v1"))
	fx.sync(t)
	old := fx.pods(t)[0]

	// Delete: the cache still shows the pod running; the driver shows it
	// terminating, and does not delete it again.
	if err := fx.d.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	ps := fx.pods(t)
	if len(ps) != 1 || !ps[0].Terminating || ps[0].UID != old.UID {
		t.Fatalf("after Delete with a lagging cache: %+v", ps)
	}
	fx.api.ClearActions()
	if err := fx.d.Delete(ctx, ps[0]); err != nil {
		t.Fatal(err)
	}
	if n := len(fx.api.Actions()); n != 0 {
		t.Fatalf("Delete repeated on a lagging view: %v", fx.api.Actions())
	}

	// Create while the cache still shows the old pod: the new pod is
	// listed at once, and a repeated Create makes nothing.
	if err := fx.d.Create(ctx, 0, "v2", false); err != nil {
		t.Fatal(err)
	}
	ps = fx.pods(t)
	if len(ps) != 2 {
		t.Fatalf("after Create with a lagging cache: %+v", ps)
	}
	created, ok := byName(ps, "redis-0-surge")
	if !ok || created.Version != "v2" || created.Terminating {
		t.Fatalf("created pod not shown: %+v", ps)
	}
	if err := fx.d.Create(ctx, 0, "v2", false); err != nil {
		t.Fatal(err)
	}
	if n := len(fx.api.pods()); n != 2 {
		t.Fatalf("%d pods on the server, want 2", n)
	}
	for _, a := range fx.api.Actions() {
		if a.GetVerb() != "create" || a.GetResource().Resource != "pods" {
			t.Errorf("unexpected request %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}

	// The old pod goes; the cache catches up; the overlay is dropped.
	if err := fx.api.finalize("redis-0"); err != nil {
		t.Fatal(err)
	}
	fx.sync(t)
	// The indexer is updated before the driver's event handler runs: wait
	// for the handler to drop the overlay.
	fx.waitPods(t, "the overlay dropped after the cache caught up", func(ps []upgrade.Pod) bool {
		return len(ps) == 1 && ps[0].Name == "redis-0-surge" && ps[0].UID == created.UID
	})
	// A pod the driver created and that someone deleted before the cache
	// ever showed it disappears once the cache has seen past it.
	fx.api.ClearActions()
	if err := fx.d.Create(ctx, 3, "v2", false); err != nil {
		t.Fatal(err)
	}
	if err := fx.api.finalize("redis-3"); err != nil {
		t.Fatal(err)
	}
	fx.api.putPod(t, readyPod("redis-4", 4, "v2")) // moves the cache's resourceVersion past it
	fx.sync(t)
	fx.waitPods(t, "a created pod the cache saw go to be no longer listed", func(ps []upgrade.Pod) bool {
		_, ok := byName(ps, "redis-3")
		return !ok
	})
}

func TestPodsNotSynced(t *testing.T) {
	api := newFakeAPI(t)
	f := informers.NewSharedInformerFactoryWithOptions(api, 0, informers.WithNamespace(ns))
	d, err := kube.NewPodsDriver(kube.PodsConfig{Client: api, Informers: f, Namespace: ns, Group: "redis", Template: template(), Version: kube.ImageVersion("", "redis")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Pods(t.Context())
	if err == nil || !strings.Contains(err.Error(), "kube: group redis: pod cache has not synced") {
		t.Fatalf("err = %v", err)
	}
	if d.HasSynced() {
		t.Error("HasSynced before start")
	}
}

func TestPodsConfigErrors(t *testing.T) {
	api := newFakeAPI(t)
	f := informers.NewSharedInformerFactory(api, 0)
	good := kube.PodsConfig{Client: api, Informers: f, Namespace: ns, Group: "redis", Template: template(), Version: kube.ImageVersion("", "redis")}
	for name, c := range map[string]func(*kube.PodsConfig){
		"no client":    func(c *kube.PodsConfig) { c.Client = nil },
		"no namespace": func(c *kube.PodsConfig) { c.Namespace = "" },
		"bad group":    func(c *kube.PodsConfig) { c.Group = "Redis_1" },
		"long group":   func(c *kube.PodsConfig) { c.Group = strings.Repeat("a", 60) },
		"no version":   func(c *kube.PodsConfig) { c.Version = nil },
		"no container": func(c *kube.PodsConfig) { c.Template.Spec.Containers = nil },
	} {
		cfg := good
		cfg.Template = *good.Template.DeepCopy()
		c(&cfg)
		if _, err := kube.NewPodsDriver(cfg); err == nil || !strings.HasPrefix(err.Error(), "kube: group") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	bad := good
	bad.Version = kube.ImageVersion("sidecar", "redis")
	d, err := kube.NewPodsDriver(bad)
	if err != nil {
		t.Fatal(err)
	}
	startFactory(t, t.Context(), f)
	err = d.Create(t.Context(), 0, "v1", false)
	if err == nil || !strings.Contains(err.Error(), `kube: pod redis-0: applying version v1 to the template: the pod template has no container "sidecar"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestPodsFailoverOnlyWhenConfigured(t *testing.T) {
	fx := newPods(t, false, nil)
	if _, ok := fx.d.Driver().(upgrade.Failoverer); ok {
		t.Error("Driver() is a Failoverer without a failover function")
	}
	var got string
	fx2 := newPods(t, false, func(c *kube.PodsConfig) {
		c.Failover = func(ctx context.Context, p upgrade.Pod) error { got = p.Name; return errors.New("no replica in sync") }
		c.Observer.Primary = func(p *corev1.Pod) bool { return p.Labels["role"] == "master" }
	})
	f, ok := fx2.d.Driver().(upgrade.Failoverer)
	if !ok {
		t.Fatal("Driver() is no Failoverer with a failover function")
	}
	err := f.Failover(fx2.ctx, upgrade.Pod{Name: "redis-0"})
	if got != "redis-0" || err == nil || err.Error() != "kube: pod redis-0: failover: no replica in sync" {
		t.Errorf("failover: got %q, err %v", got, err)
	}
	p := readyPod("redis-0", 0, "v1")
	p.Labels["role"] = "master"
	fx2.api.putPod(t, p)
	ps := fx2.waitPods(t, "pod", func(ps []upgrade.Pod) bool { return len(ps) == 1 })
	if !ps[0].Primary {
		t.Error("primary not reported")
	}
}

func TestPodsNoRequestsPerPods(t *testing.T) {
	fx := newPods(t, false, nil)
	fx.api.putPod(t, readyPod("redis-0", 0, "v1"))
	fx.waitPods(t, "pod", func(ps []upgrade.Pod) bool { return len(ps) == 1 })
	fx.api.ClearActions()
	for range 10 {
		fx.pods(t)
	}
	if c := kube.CountActions(fx.api.Actions()); c.Reads != 0 || c.Writes != 0 {
		t.Errorf("Pods made requests: %v", c)
	}
	ps := fx.pods(t)
	if err := fx.d.Create(fx.ctx, 1, "v2", false); err != nil {
		t.Fatal(err)
	}
	if err := fx.d.Delete(fx.ctx, ps[0]); err != nil {
		t.Fatal(err)
	}
	c := kube.CountActions(fx.api.Actions())
	if c.Writes != 2 || c.Reads != 0 || c.ByVerb["create pods"] != 1 || c.ByVerb["delete pods"] != 1 {
		t.Errorf("Create+Delete: %v", c)
	}
}

func TestObserver(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	o := &kube.Observer{Clock: clk}
	withEstimate := &kube.Observer{Clock: clk, Estimate: func(p *corev1.Pod) time.Duration {
		d, _ := time.ParseDuration(p.Annotations["example.com/last-upgrade"])
		return d
	}}
	annotated := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u", Annotations: map[string]string{"example.com/last-upgrade": "95s"}}}
	if got, none := withEstimate.Pod(annotated, 0).Estimate, o.Pod(annotated, 0).Estimate; got != 95*time.Second || none != 0 {
		t.Errorf("Estimate = %v with the func, %v without, want 1m35s and 0", got, none)
	}
	base := func() *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: types.UID("u")}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x:1"}}}}
	}
	for _, reason := range []string{"ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "InvalidImageName", "CreateContainerConfigError"} {
		p := base()
		markWaiting(reason)(p)
		if got := o.FailedReason(p); !strings.HasPrefix(got, reason+": container c") {
			t.Errorf("%s: FailedReason = %q", reason, got)
		}
		if o.Pod(p, 0).Ready {
			t.Errorf("%s: ready", reason)
		}
	}
	p := base()
	markWaiting("ContainerCreating")(p)
	if got := o.FailedReason(p); got != "" {
		t.Errorf("ContainerCreating: FailedReason = %q", got)
	}
	p = base()
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
	if got := o.FailedReason(p); got != "CrashLoopBackOff: init container init" {
		t.Errorf("init: %q", got)
	}
	p = base()
	p.Status.Phase = corev1.PodFailed
	p.Status.Reason = "Evicted"
	if got := o.FailedReason(p); got != "PodFailed: Evicted" {
		t.Errorf("failed phase: %q", got)
	}
	// Unschedulable: failed only beyond the grace period.
	p = base()
	p.Status.Phase = corev1.PodPending
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: "0/3 nodes are available", LastTransitionTime: metav1.NewTime(clk.Now())}}
	if got := o.FailedReason(p); got != "" {
		t.Errorf("unschedulable at once: %q", got)
	}
	clk.Step(kube.DefaultUnschedulableGrace + time.Second)
	if got := o.FailedReason(p); !strings.HasPrefix(got, "Unschedulable for 2m1s: 0/3 nodes") {
		t.Errorf("unschedulable after grace: %q", got)
	}
	o2 := &kube.Observer{Clock: clk, UnschedulableGrace: time.Hour, FailedReasons: []string{"Custom"}}
	if got := o2.FailedReason(p); got != "" {
		t.Errorf("custom grace: %q", got)
	}
	markWaiting("ImagePullBackOff")(p)
	if got := o2.FailedReason(p); got != "" {
		t.Errorf("custom reasons: %q", got)
	}
	// Terminating pods are never failed; Ready follows the condition only.
	p = base()
	markWaiting("CrashLoopBackOff")(p)
	now := metav1.Now()
	p.DeletionTimestamp = &now
	up := o.Pod(p, 3)
	if up.Failed != "" || !up.Terminating || up.Index != 3 || up.UID != "u" {
		t.Errorf("terminating: %+v", up)
	}
	p = base()
	markReady(p)
	p.Status.Conditions[2].Status = corev1.ConditionFalse
	if kube.Ready(p) {
		t.Error("ready with PodReady False")
	}
}

// TestPodsConformance runs the driver authors' suite on the fake API with a
// fake kubelet.
func TestPodsConformance(t *testing.T) {
	fx := newPods(t, false, func(c *kube.PodsConfig) {
		c.Observer.Primary = func(p *corev1.Pod) bool { return p.Labels["role"] == "master" }
		c.Failover = func(ctx context.Context, p upgrade.Pod) error { return nil }
	})
	fx.api.kubelet(fx.ctx, t, nil)
	for i := range int32(3) {
		if err := fx.d.Create(fx.ctx, i, "v1", false); err != nil {
			t.Fatal(err)
		}
	}
	upgradetest.TestPodDriver(t, fx.d.Driver(), upgradetest.Harness{
		Replicas: 3, Version: "v1", NewVersion: "v2",
		Advance:  func() { time.Sleep(10 * time.Millisecond) },
		Attempts: 500,
	})
}

// TestPodsUpgradeWithUpgrader drives the Upgrader over the pods driver with
// a fake kubelet: a surge upgrade, then one whose verification fails and is
// rolled back, then one whose image cannot be pulled.
func TestPodsUpgradeWithUpgrader(t *testing.T) {
	fx := newPods(t, false, nil)
	fx.api.kubelet(fx.ctx, t, func(p *corev1.Pod) func(*corev1.Pod) {
		if strings.HasSuffix(p.Spec.Containers[0].Image, ":bad") {
			return markWaiting("ErrImagePull")
		}
		return nil
	})
	spec, err := upgrade.ParseSpec([]byte(`
rollingUpdate: {maxSurge: 1, maxUnavailable: 0, timeout: 10s}
postUpgradeVerify: {enabled: true, type: custom, command: "check", interval: 10ms, failureThreshold: 1}
rollback: {enabled: true, onFailure: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	verifier := func(ctx context.Context, tg verify.Target) error {
		if tg.Version == "v3" {
			return &verify.FailedError{Type: verify.TypeCustom, Reason: "replication not caught up"}
		}
		return nil
	}
	u, err := upgrade.New(fx.d.Driver(), spec, upgrade.WithPostUpgradeVerifier(verify.Func(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	st := &status.Status{}
	want := upgrade.Desired{Version: "v1", Replicas: 4}
	stepUntil(t, fx.ctx, func() (upgrade.Result, error) { return u.Step(fx.ctx, st, want) })
	waitSteady(t, fx.d, 4, "v1")

	want.Version = "v2"
	stepUntil(t, fx.ctx, func() (upgrade.Result, error) { return u.Step(fx.ctx, st, want) })
	if st.CurrentVersion != "v2" || st.UpgradeStatus.Phase != status.UpgradeCompleted {
		t.Fatalf("after v2: %+v %+v", st, st.UpgradeStatus)
	}
	ps := waitSteady(t, fx.d, 4, "v2")
	for _, p := range ps {
		if p.Name != fx.d.PodName(p.Index)+kube.SurgeSuffix {
			t.Errorf("after a surge upgrade slot %d runs %s", p.Index, p.Name)
		}
	}

	for _, bad := range []string{"v3", "bad"} {
		want.Version = bad
		stepUntil(t, fx.ctx, func() (upgrade.Result, error) { return u.Step(fx.ctx, st, want) })
		if st.CurrentVersion != "v2" || st.UpgradeStatus.Phase != status.UpgradeRolledBack {
			t.Fatalf("after %s: %+v %+v", bad, st, st.UpgradeStatus)
		}
		waitSteady(t, fx.d, 4, "v2")
	}
	if st.RollbackCount != 2 {
		t.Errorf("rollbackCount = %d", st.RollbackCount)
	}
}
