package kube_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const ns = "db"

func podsGVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Version: "v1", Resource: "pods"}
}

// fakeAPI is the fake clientset with what an API server adds that the fake
// tracker lacks: UIDs, resourceVersions and creation timestamps on create,
// optimistic concurrency on update, delete preconditions, and graceful
// deletion of pods bound to a node (deletionTimestamp first, gone when the
// "kubelet" finalizes them).
type fakeAPI struct {
	*fake.Clientset
	mu  sync.Mutex
	rv  int64
	uid int
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{Clientset: fake.NewClientset()}
	f.PrependReactor("*", "*", f.react)
	return f
}

func (f *fakeAPI) nextRV() string {
	f.rv++
	return strconv.FormatInt(f.rv, 10)
}

func (f *fakeAPI) react(action k8stesting.Action) (bool, runtime.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gvr := action.GetResource()
	nsName := action.GetNamespace()
	tr := f.Tracker()
	switch action.GetVerb() {
	case "create":
		if action.GetSubresource() != "" {
			return false, nil, nil
		}
		a := action.(k8stesting.CreateAction)
		obj := a.GetObject().DeepCopyObject()
		m, err := meta.Accessor(obj)
		if err != nil {
			return true, nil, err
		}
		if m.GetName() == "" && m.GetGenerateName() != "" {
			f.uid++
			m.SetName(fmt.Sprintf("%s%05d", m.GetGenerateName(), f.uid))
		}
		f.uid++
		m.SetUID(types.UID(fmt.Sprintf("uid-%d", f.uid)))
		m.SetResourceVersion(f.nextRV())
		m.SetCreationTimestamp(metav1.Now())
		if err := tr.Create(gvr, obj, nsName); err != nil {
			return true, nil, err
		}
		return true, obj.DeepCopyObject(), nil
	case "update":
		a := action.(k8stesting.UpdateAction)
		obj := a.GetObject().DeepCopyObject()
		m, err := meta.Accessor(obj)
		if err != nil {
			return true, nil, err
		}
		cur, err := tr.Get(gvr, nsName, m.GetName())
		if err != nil {
			return true, nil, err
		}
		cm, _ := meta.Accessor(cur)
		if rv := m.GetResourceVersion(); rv != "" && rv != cm.GetResourceVersion() {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), m.GetName(), fmt.Errorf("the object has been modified"))
		}
		m.SetUID(cm.GetUID())
		m.SetCreationTimestamp(cm.GetCreationTimestamp())
		m.SetResourceVersion(f.nextRV())
		if err := tr.Update(gvr, obj, nsName); err != nil {
			return true, nil, err
		}
		return true, obj.DeepCopyObject(), nil
	case "patch":
		a := action.(k8stesting.PatchAction)
		cur, err := tr.Get(gvr, nsName, a.GetName())
		if err != nil {
			return true, nil, err
		}
		curJSON, err := json.Marshal(cur)
		if err != nil {
			return true, nil, err
		}
		var out []byte
		switch a.GetPatchType() {
		case types.StrategicMergePatchType:
			out, err = strategicpatch.StrategicMergePatch(curJSON, a.GetPatch(), cur)
		case types.MergePatchType:
			out, err = jsonpatch.MergePatch(curJSON, a.GetPatch())
		default:
			return false, nil, nil
		}
		if err != nil {
			return true, nil, apierrors.NewBadRequest(err.Error())
		}
		obj := cur.DeepCopyObject()
		if err := json.Unmarshal(out, obj); err != nil {
			return true, nil, err
		}
		m, _ := meta.Accessor(obj)
		m.SetResourceVersion(f.nextRV())
		if err := tr.Update(gvr, obj, nsName); err != nil {
			return true, nil, err
		}
		return true, obj.DeepCopyObject(), nil
	case "delete":
		a := action.(k8stesting.DeleteAction)
		cur, err := tr.Get(gvr, nsName, a.GetName())
		if err != nil {
			return true, nil, err
		}
		cm, _ := meta.Accessor(cur)
		opts := a.GetDeleteOptions()
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != cm.GetUID() {
				return true, nil, apierrors.NewConflict(gvr.GroupResource(), a.GetName(),
					fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, cm.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != cm.GetResourceVersion() {
				return true, nil, apierrors.NewConflict(gvr.GroupResource(), a.GetName(),
					fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, cm.GetResourceVersion()))
			}
		}
		if pod, ok := cur.(*corev1.Pod); ok && pod.Spec.NodeName != "" && (opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds > 0) {
			if pod.DeletionTimestamp != nil {
				return true, nil, nil
			}
			pod = pod.DeepCopy()
			now := metav1.Now()
			pod.DeletionTimestamp = &now
			grace := int64(30)
			pod.DeletionGracePeriodSeconds = &grace
			pod.ResourceVersion = f.nextRV()
			return true, nil, tr.Update(gvr, pod, nsName)
		}
		return true, nil, tr.Delete(gvr, nsName, a.GetName())
	}
	return false, nil, nil
}

// pod returns the stored pod, or nil.
func (f *fakeAPI) pod(name string) *corev1.Pod {
	f.mu.Lock()
	defer f.mu.Unlock()
	obj, err := f.Tracker().Get(podsGVR(), ns, name)
	if err != nil {
		return nil
	}
	return obj.(*corev1.Pod).DeepCopy()
}

// pods returns every stored pod.
func (f *fakeAPI) pods() []*corev1.Pod {
	f.mu.Lock()
	defer f.mu.Unlock()
	obj, err := f.Tracker().List(podsGVR(), schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, ns)
	if err != nil {
		panic(err)
	}
	var out []*corev1.Pod
	for i := range obj.(*corev1.PodList).Items {
		out = append(out, obj.(*corev1.PodList).Items[i].DeepCopy())
	}
	return out
}

// setStatus changes a pod the way a kubelet would (not recorded as an
// action of the driver's client).
func (f *fakeAPI) setStatus(t testing.TB, name string, change func(p *corev1.Pod)) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	obj, err := f.Tracker().Get(podsGVR(), ns, name)
	if err != nil {
		t.Fatalf("setStatus %s: %v", name, err)
	}
	p := obj.(*corev1.Pod).DeepCopy()
	change(p)
	p.ResourceVersion = f.nextRV()
	if err := f.Tracker().Update(podsGVR(), p, ns); err != nil {
		t.Fatalf("setStatus %s: %v", name, err)
	}
}

// finalize removes a terminating pod, as the kubelet does once its
// containers stopped.
func (f *fakeAPI) finalize(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Tracker().Delete(podsGVR(), ns, name)
}

// putPod stores a pod directly (a pod that existed before the test, or one
// another writer made).
func (f *fakeAPI) putPod(t testing.TB, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	p = p.DeepCopy()
	if p.Namespace == "" {
		p.Namespace = ns
	}
	f.uid++
	if p.UID == "" {
		p.UID = types.UID(fmt.Sprintf("uid-%d", f.uid))
	}
	p.ResourceVersion = f.nextRV()
	if p.CreationTimestamp.IsZero() {
		p.CreationTimestamp = metav1.Now()
	}
	if err := f.Tracker().Add(p); err != nil {
		t.Fatalf("putPod %s: %v", p.Name, err)
	}
	return p
}

// markReady sets the pod Running and Ready with an IP.
func markReady(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = "127.0.0.1"
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue},
	}
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
		})
	}
}

// markWaiting puts the pod's containers in a waiting state with reason.
func markWaiting(reason string) func(p *corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady"},
		}
		p.Status.ContainerStatuses = nil
		for _, c := range p.Spec.Containers {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "Back-off pulling image " + strconv.Quote(c.Image)}},
			})
		}
	}
}

// kubelet plays the kubelet for every pod of the fake API until ctx ends:
// pods become Ready (or what fate says) and terminating pods are removed.
func (f *fakeAPI) kubelet(ctx context.Context, t testing.TB, fate func(p *corev1.Pod) func(*corev1.Pod)) {
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, p := range f.pods() {
				switch {
				case p.DeletionTimestamp != nil:
					_ = f.finalize(p.Name)
				case p.Status.Phase == "":
					change := markReady
					if fate != nil {
						if c := fate(p); c != nil {
							change = c
						}
					}
					f.mu.Lock()
					obj, err := f.Tracker().Get(podsGVR(), ns, p.Name)
					if err == nil && obj.(*corev1.Pod).UID == p.UID {
						q := obj.(*corev1.Pod).DeepCopy()
						change(q)
						q.ResourceVersion = f.nextRV()
						_ = f.Tracker().Update(podsGVR(), q, ns)
					}
					f.mu.Unlock()
				}
			}
		}
	}()
}

// factory returns a started informer factory on client for ns, synced.
func startFactory(t testing.TB, ctx context.Context, f informers.SharedInformerFactory) {
	t.Helper()
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("cache of %v did not sync", typ)
		}
	}
}

// eventually polls cond every 5 ms for up to 5 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
