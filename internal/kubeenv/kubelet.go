package kubeenv

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Fate is what Kubelet does with a new pod.
type Fate struct {
	// Waiting, when set, leaves the containers waiting with this reason
	// (ImagePullBackOff, CrashLoopBackOff...) instead of starting them.
	Waiting string
	// ReadyAfter replaces Kubelet.ReadyAfter for this pod when positive.
	ReadyAfter time.Duration
}

// Kubelet plays the kubelet for the pods bound to one node (spec.nodeName):
// it reports a new pod Running and Ready ReadyAfter after it saw it
// created (or leaves it waiting, as Fate says), and removes a terminating
// pod DeleteAfter after its deletion was requested, as a kubelet does once
// the containers stopped. Status is written the way a kubelet writes it
// (the status subresource, phase, conditions, container statuses, pod IP).
type Kubelet struct {
	// Client writes pod status and the final deletes. Use a client whose
	// requests are not counted as the operator's.
	Client kubernetes.Interface
	// Namespace watched ("" for all).
	Namespace string
	// NodeName the kubelet serves; it creates the Node if missing.
	NodeName string
	// ReadyAfter is how long after a pod appears it becomes Ready.
	ReadyAfter time.Duration
	// DeleteAfter is how long after deletion was requested the pod goes.
	DeleteAfter time.Duration
	// PodIP reported for every pod (default 127.0.0.1).
	PodIP string
	// Fate, when set, decides per pod (nil: become Ready).
	Fate func(p *corev1.Pod) Fate

	mu      sync.Mutex
	started map[types.UID]bool
	deleted map[types.UID]bool
	wg      sync.WaitGroup
}

// Run serves pods until ctx ends, then waits for its timers.
func (k *Kubelet) Run(ctx context.Context) error {
	k.started = map[types.UID]bool{}
	k.deleted = map[types.UID]bool{}
	if k.PodIP == "" {
		k.PodIP = "127.0.0.1"
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: k.NodeName},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
	if _, err := k.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kubeenv: kubelet: creating node %s: %w", k.NodeName, err)
	}
	f := informers.NewSharedInformerFactoryWithOptions(k.Client, 0, informers.WithNamespace(k.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.NodeName).String()
		}))
	inf := f.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.observe(ctx, obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { k.observe(ctx, obj.(*corev1.Pod)) },
	})
	if err != nil {
		return fmt.Errorf("kubeenv: kubelet: %w", err)
	}
	f.Start(ctx.Done())
	<-ctx.Done()
	f.Shutdown()
	k.wg.Wait()
	return nil
}

func (k *Kubelet) observe(ctx context.Context, p *corev1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if p.DeletionTimestamp != nil {
		if k.deleted[p.UID] {
			return
		}
		k.deleted[p.UID] = true
		k.after(ctx, k.DeleteAfter, func() { k.remove(ctx, p) })
		return
	}
	if k.started[p.UID] || p.Status.Phase != "" && p.Status.Phase != corev1.PodPending {
		return
	}
	k.started[p.UID] = true
	fate := Fate{}
	if k.Fate != nil {
		fate = k.Fate(p)
	}
	delay := k.ReadyAfter
	if fate.ReadyAfter > 0 {
		delay = fate.ReadyAfter
	}
	if fate.Waiting != "" {
		k.after(ctx, 0, func() { k.setStatus(ctx, p, waitingStatus(p, fate.Waiting)) })
		return
	}
	k.after(ctx, 0, func() { k.setStatus(ctx, p, startingStatus(p, k.PodIP)) })
	k.after(ctx, delay, func() { k.setStatus(ctx, p, readyStatus(p, k.PodIP)) })
}

// after runs f after d unless ctx ends first.
func (k *Kubelet) after(ctx context.Context, d time.Duration, f func()) {
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		if d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		if ctx.Err() == nil {
			f()
		}
	}()
}

func (k *Kubelet) setStatus(ctx context.Context, p *corev1.Pod, st corev1.PodStatus) {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": p.UID},
		"status":   st,
	})
	if err != nil {
		return
	}
	// A pod deleted meanwhile, or replaced (another UID), is left alone.
	_, _ = k.Client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
}

func (k *Kubelet) remove(ctx context.Context, p *corev1.Pod) {
	zero := int64(0)
	uid := p.UID
	_ = k.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
}

func containerStatuses(p *corev1.Pod, ready bool, state func() corev1.ContainerState) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for _, c := range p.Spec.Containers {
		out = append(out, corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: ready, State: state()})
	}
	return out
}

func cond(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
	s := corev1.ConditionFalse
	if ok {
		s = corev1.ConditionTrue
	}
	return corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: metav1.Now()}
}

func startingStatus(p *corev1.Pod, ip string) corev1.PodStatus {
	now := metav1.Now()
	return corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, HostIP: ip, StartTime: &now,
		Conditions: []corev1.PodCondition{
			cond(corev1.PodScheduled, true, ""), cond(corev1.PodInitialized, true, ""),
			cond(corev1.ContainersReady, false, "ContainersNotReady"), cond(corev1.PodReady, false, "ContainersNotReady"),
		},
		ContainerStatuses: containerStatuses(p, false, func() corev1.ContainerState {
			return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		}),
	}
}

func readyStatus(p *corev1.Pod, ip string) corev1.PodStatus {
	st := startingStatus(p, ip)
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodScheduled, true, ""), cond(corev1.PodInitialized, true, ""),
		cond(corev1.ContainersReady, true, ""), cond(corev1.PodReady, true, ""),
	}
	for i := range st.ContainerStatuses {
		st.ContainerStatuses[i].Ready = true
	}
	return st
}

func waitingStatus(p *corev1.Pod, reason string) corev1.PodStatus {
	now := metav1.Now()
	return corev1.PodStatus{
		Phase: corev1.PodPending, HostIP: "127.0.0.1", StartTime: &now,
		Conditions: []corev1.PodCondition{
			cond(corev1.PodScheduled, true, ""), cond(corev1.PodInitialized, true, ""),
			cond(corev1.ContainersReady, false, "ContainersNotReady"), cond(corev1.PodReady, false, "ContainersNotReady"),
		},
		ContainerStatuses: containerStatuses(p, false, func() corev1.ContainerState {
			msg := fmt.Sprintf("Back-off pulling image %q", p.Spec.Containers[0].Image)
			if reason == "CrashLoopBackOff" {
				msg = "back-off 10s restarting failed container"
			}
			return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
		}),
	}
}
