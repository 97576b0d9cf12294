package kube

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/rollgate/rollgate/upgrade"
)

// DefaultFieldManager is the field manager of the drivers' writes.
const DefaultFieldManager = "rollgate"

// SurgeSuffix is appended to a slot's pod name to name the surge pod
// created beside it: slot 2 of group redis runs redis-2, its surge pod is
// redis-2-surge. Once redis-2 is gone, redis-2-surge is the slot's pod; a
// later surge beside it is named redis-2 again. The two names alternate, so
// a slot never has more than these two names and a repeated Create can never
// make a third pod.
const SurgeSuffix = "-surge"

// VersionFunc changes a pod template so that its pods run version: at least
// the image. It receives a copy it may modify freely.
type VersionFunc func(tpl *corev1.PodTemplateSpec, version string) error

// ImageVersion returns a VersionFunc that sets the image of the named
// container (the first container when name is "") to repository:version.
func ImageVersion(container, repository string) VersionFunc {
	return func(tpl *corev1.PodTemplateSpec, version string) error {
		cs := tpl.Spec.Containers
		for i := range cs {
			if container == "" || cs[i].Name == container {
				cs[i].Image = repository + ":" + version
				return nil
			}
		}
		if container == "" {
			return fmt.Errorf("the pod template has no container")
		}
		return fmt.Errorf("the pod template has no container %q", container)
	}
}

// PodsConfig configures a PodsDriver.
type PodsConfig struct {
	// Client writes pods. Required.
	Client kubernetes.Interface
	// Informers is the caller's factory for Namespace (or all namespaces);
	// the driver registers its pod informer with it in NewPodsDriver, and
	// the caller starts the factory and waits for its caches. Required.
	Informers informers.SharedInformerFactory
	// Namespace of the pods. Required.
	Namespace string
	// Group names the pods: slot i runs "<Group>-<i>". It must be a DNS
	// label short enough for the surge suffix. Required.
	Group string
	// Template is the pod template; labels and annotations are kept, the
	// driver adds its own. Required.
	Template corev1.PodTemplateSpec
	// Version changes the template for a version (image at least).
	// Required.
	Version VersionFunc
	// Owner is set as the controller owner reference of every pod (the
	// operator's object), so that deleting it deletes the pods. Optional.
	Owner *metav1.OwnerReference
	// Observer says which pod is primary and which pods have failed; its
	// zero value is fine. Its Clock defaults to Clock.
	Observer Observer
	// Failover moves the primary role away from a pod. When set, the
	// driver returned by Driver implements upgrade.Failoverer.
	Failover func(ctx context.Context, primary upgrade.Pod) error
	// FieldManager of the driver's writes (default DefaultFieldManager).
	FieldManager string
	// Clock (default: the real clock).
	Clock clock.PassiveClock
}

// PodsDriver is the pods-mode upgrade.PodDriver: the operator owns bare
// pods, one per slot, named "<group>-<index>" (see SurgeSuffix for surge
// pods) and labelled with group, index and version. Observation goes
// through the shared informer: after it synced, Pods makes no API request,
// Create makes one (POST) and Delete one (DELETE with UID and
// resourceVersion preconditions).
//
// Hand Driver() to upgrade.New, so that the Upgrader sees a Failoverer
// exactly when a failover function was configured. A PodsDriver is safe for
// concurrent use.
type PodsDriver struct {
	view     *podView
	cfg      PodsConfig
	selector labels.Selector
}

// NewPodsDriver checks cfg and registers the pod informer with
// cfg.Informers. The caller must start the factory afterwards (or again, if
// it was started already: Start only starts informers not yet running).
func NewPodsDriver(cfg PodsConfig) (*PodsDriver, error) {
	if cfg.Client == nil || cfg.Informers == nil {
		return nil, fmt.Errorf("kube: group %s: Client and Informers are required", cfg.Group)
	}
	if cfg.Namespace == "" {
		return nil, fmt.Errorf("kube: group %s: Namespace is required", cfg.Group)
	}
	if errs := validation.IsDNS1123Label(cfg.Group + SurgeSuffix + "-99999"); len(errs) > 0 {
		return nil, fmt.Errorf("kube: group %q: the group name must be a DNS label that leaves room for %q and an index: %v", cfg.Group, SurgeSuffix, errs)
	}
	if errs := validation.IsValidLabelValue(cfg.Group); len(errs) > 0 {
		return nil, fmt.Errorf("kube: group %q: not a valid label value: %v", cfg.Group, errs)
	}
	if cfg.Version == nil {
		return nil, fmt.Errorf("kube: group %s: Version (the function that applies a version to the template) is required", cfg.Group)
	}
	if len(cfg.Template.Spec.Containers) == 0 {
		return nil, fmt.Errorf("kube: group %s: the pod template has no container", cfg.Group)
	}
	if cfg.FieldManager == "" {
		cfg.FieldManager = DefaultFieldManager
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Observer.Clock == nil {
		cfg.Observer.Clock = cfg.Clock
	}
	cfg.Template = *cfg.Template.DeepCopy()
	obs := cfg.Observer
	inf := cfg.Informers.Core().V1().Pods().Informer()
	d := &PodsDriver{
		cfg:      cfg,
		selector: labels.SelectorFromSet(labels.Set{LabelGroup: cfg.Group}),
	}
	d.view = newPodView(cfg.Client, cfg.Namespace, "group "+cfg.Group, inf, &obs, cfg.Clock, cfg.FieldManager)
	return d, nil
}

// Driver returns the upgrade.PodDriver to hand to upgrade.New: d itself, or
// d with upgrade.Failoverer when PodsConfig.Failover is set.
func (d *PodsDriver) Driver() upgrade.PodDriver { return withFailover(d, d.cfg.Failover) }

// withFailover returns d, or d with upgrade.Failoverer calling fn when fn
// is set: the Upgrader fails over only through drivers that can.
func withFailover(d upgrade.PodDriver, fn func(ctx context.Context, primary upgrade.Pod) error) upgrade.PodDriver {
	if fn == nil {
		return d
	}
	return failoverDriver{PodDriver: d, fn: fn}
}

type failoverDriver struct {
	upgrade.PodDriver
	fn func(ctx context.Context, primary upgrade.Pod) error
}

// Failover calls the configured failover function.
func (f failoverDriver) Failover(ctx context.Context, primary upgrade.Pod) error {
	if err := f.fn(ctx, primary); err != nil {
		return fmt.Errorf("kube: pod %s: failover: %w", primary.Name, err)
	}
	return nil
}

// HasSynced reports whether the pod cache has synced; Pods fails until it
// has.
func (d *PodsDriver) HasSynced() bool { return d.view.informer.HasSynced() }

// PodName returns the name of slot index's pod ("<group>-<index>").
func (d *PodsDriver) PodName(index int32) string {
	return d.cfg.Group + "-" + strconv.FormatInt(int64(index), 10)
}

// Selector returns the label selector of the group's pods.
func (d *PodsDriver) Selector() labels.Selector { return d.selector }

// Pods lists the group's pods from the informer cache, overlaid with the
// driver's own writes the cache does not show yet. It makes no API request.
// Pods without a valid index label are ignored.
func (d *PodsDriver) Pods(ctx context.Context) ([]upgrade.Pod, error) {
	ps, err := d.view.list(d.selector, nil)
	if err != nil {
		return nil, err
	}
	out := make([]upgrade.Pod, 0, len(ps))
	for _, p := range ps {
		idx, ok := podIndex(p)
		if !ok {
			continue
		}
		out = append(out, d.view.obs.Pod(p, idx))
	}
	return out, nil
}

func podIndex(p *corev1.Pod) (int32, bool) {
	s, ok := p.Labels[LabelIndex]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 {
		return 0, false
	}
	return int32(n), true
}

// Create starts the pod of slot index at version. It is named
// "<group>-<index>" unless that name is held by the slot's other pod (the
// old pod beside a surge pod, or one on its way out), in which case it takes
// the slot's other name (see SurgeSuffix). Create is idempotent: it does
// nothing when the slot already has a live pod at version (without surge) or
// a second pod, one of them live at version (with surge); and a pod the API
// server already holds under the chosen name is not an error unless the
// driver's view shows it at another version or terminating. surge only
// marks the pod (LabelSurge); the Upgrader keeps the budget.
func (d *PodsDriver) Create(ctx context.Context, index int32, version string, surge bool) error {
	base := d.PodName(index)
	if index < 0 {
		return fmt.Errorf("kube: pod %s: invalid index %d", base, index)
	}
	if version == "" {
		return fmt.Errorf("kube: pod %s: version is empty", base)
	}
	current, err := d.view.list(d.selector, func(p *corev1.Pod) bool {
		i, ok := podIndex(p)
		return ok && i == index
	})
	if err != nil {
		return err
	}
	held := map[string]*corev1.Pod{}
	liveAtVersion := false
	for _, p := range current {
		held[p.Name] = p
		if p.DeletionTimestamp == nil && Version(p.ObjectMeta) == version {
			liveAtVersion = true
		}
	}
	if liveAtVersion && (!surge || len(held) >= 2) {
		return nil // done already (a repeated Create)
	}
	alt := base + SurgeSuffix
	var name string
	switch {
	case len(held) >= 2:
		return fmt.Errorf("kube: pod %s: slot %d already has two pods (%s and %s); wait for one to go", base, index, current[0].Name, current[1].Name)
	case held[base] != nil:
		// The slot's pod keeps running beside the new one (surge), or is
		// on its way out: take the slot's other name.
		name = alt
	default:
		name = base
	}
	pod, err := d.buildPod(name, index, version, surge)
	if err != nil {
		return err
	}
	created, err := d.cfg.Client.CoreV1().Pods(d.cfg.Namespace).Create(ctx, pod, metav1.CreateOptions{FieldManager: d.cfg.FieldManager})
	if apierrors.IsAlreadyExists(err) {
		if cp := d.view.cachedPod(name); cp != nil && (cp.DeletionTimestamp != nil || Version(cp.ObjectMeta) != version) {
			return fmt.Errorf("kube: pod %s: the name is still held by a pod at version %q (terminating: %t); retry when it is gone: %w",
				name, Version(cp.ObjectMeta), cp.DeletionTimestamp != nil, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("kube: pod %s: create at version %s: %w", name, version, err)
	}
	d.view.expectCreated(created)
	return nil
}

// buildPod renders the pod of a slot at a version.
func (d *PodsDriver) buildPod(name string, index int32, version string, surge bool) (*corev1.Pod, error) {
	tpl := d.cfg.Template.DeepCopy()
	if err := d.cfg.Version(tpl, version); err != nil {
		return nil, fmt.Errorf("kube: pod %s: applying version %s to the template: %w", name, version, err)
	}
	pod := &corev1.Pod{
		ObjectMeta: *tpl.ObjectMeta.DeepCopy(),
		Spec:       *tpl.Spec.DeepCopy(),
	}
	pod.Name = name
	pod.GenerateName = ""
	pod.Namespace = d.cfg.Namespace
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[LabelGroup] = d.cfg.Group
	pod.Labels[LabelIndex] = strconv.FormatInt(int64(index), 10)
	if surge {
		pod.Labels[LabelSurge] = "true"
	} else {
		delete(pod.Labels, LabelSurge)
	}
	setVersion(&pod.ObjectMeta, version)
	if d.cfg.Owner != nil {
		ref := *d.cfg.Owner
		t := true
		ref.Controller = &t
		if ref.BlockOwnerDeletion == nil {
			ref.BlockOwnerDeletion = &t
		}
		pod.OwnerReferences = append(pod.OwnerReferences, ref)
	}
	return pod, nil
}

// Delete deletes pod with UID and resourceVersion preconditions (see
// package doc). A pod gone, terminating, or replaced by a newer incarnation
// is not an error; a pod that changed since it was observed returns a
// *StaleError and is not deleted.
func (d *PodsDriver) Delete(ctx context.Context, pod upgrade.Pod) error {
	return d.view.deletePod(ctx, pod)
}
