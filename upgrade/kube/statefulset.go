package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
)

// LabelPodIndex is the label the StatefulSet controller puts on its pods
// with their ordinal.
const LabelPodIndex = "apps.kubernetes.io/pod-index"

// StatefulSetConfig configures a StatefulSetDriver.
type StatefulSetConfig struct {
	// Client writes the StatefulSet and deletes pods. Required.
	Client kubernetes.Interface
	// Informers is the caller's factory for Namespace (or all namespaces);
	// the driver registers its pod and StatefulSet informers with it in
	// NewStatefulSetDriver; the caller starts it. Required.
	Informers informers.SharedInformerFactory
	// Namespace and Name of the operator's StatefulSet, whose
	// updateStrategy must be OnDelete. Required.
	Namespace, Name string
	// Version changes the StatefulSet's pod template for a version (image
	// at least). Required.
	Version VersionFunc
	// Observer says which pod is primary and which pods have failed.
	Observer Observer
	// Failover moves the primary role away from a pod. When set, the
	// driver returned by Driver implements upgrade.Failoverer.
	Failover func(ctx context.Context, primary upgrade.Pod) error
	// FieldManager of the driver's writes (default DefaultFieldManager).
	FieldManager string
	// Clock (default: the real clock).
	Clock clock.PassiveClock
}

// StatefulSetDriver is the StatefulSet-mode upgrade.PodDriver. The
// operator's StatefulSet uses updateStrategy OnDelete (podManagementPolicy
// Parallel is advised: OrderedReady makes the controller recreate deleted
// pods one at a time). The driver records a version on the StatefulSet's
// pod template (SetVersion, or Create), deletes the pods the Upgrader stops,
// and the StatefulSet controller recreates them from the template; a
// rollback sets the template back. The pods' version is read from the
// rollgate.io/version annotation the template carries.
//
// A StatefulSet cannot run two pods for one ordinal: surge is refused
// (ValidateSpec, NewUpgrader, and Create with surge). The StatefulSet
// controller recreates a missing pod from the current template, so in this
// mode a pod below the partition that dies during a canary comes back at
// the template's (new) version; the pods mode has no such limit.
//
// Hand Driver() to upgrade.New (or use NewUpgrader), and call Sync before
// and after each Step (or use Step, which does) so the template follows
// the upgrade's direction. A StatefulSetDriver is safe for concurrent use.
type StatefulSetDriver struct {
	view      *podView
	cfg       StatefulSetConfig
	stsLister appslisters.StatefulSetLister
	stsInf    cache.SharedIndexInformer

	mu      sync.Mutex
	written *appsv1.StatefulSet // last StatefulSet the driver wrote, until the cache shows it
}

// NewStatefulSetDriver checks cfg and registers the informers.
func NewStatefulSetDriver(cfg StatefulSetConfig) (*StatefulSetDriver, error) {
	if cfg.Client == nil || cfg.Informers == nil {
		return nil, fmt.Errorf("kube: statefulset %s: Client and Informers are required", cfg.Name)
	}
	if cfg.Namespace == "" || cfg.Name == "" {
		return nil, fmt.Errorf("kube: statefulset %q: Namespace and Name are required", cfg.Name)
	}
	if cfg.Version == nil {
		return nil, fmt.Errorf("kube: statefulset %s: Version (the function that applies a version to the template) is required", cfg.Name)
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
	obs := cfg.Observer
	podInf := cfg.Informers.Core().V1().Pods().Informer()
	stsInf := cfg.Informers.Apps().V1().StatefulSets()
	d := &StatefulSetDriver{
		cfg:       cfg,
		stsLister: stsInf.Lister(),
		stsInf:    stsInf.Informer(),
	}
	d.view = newPodView(cfg.Client, cfg.Namespace, "statefulset "+cfg.Name, podInf, &obs, cfg.Clock, cfg.FieldManager)
	return d, nil
}

// Driver returns the upgrade.PodDriver to hand to upgrade.New: d itself, or
// d with upgrade.Failoverer when StatefulSetConfig.Failover is set.
func (d *StatefulSetDriver) Driver() upgrade.PodDriver { return withFailover(d, d.cfg.Failover) }

// HasSynced reports whether the pod and StatefulSet caches have synced.
func (d *StatefulSetDriver) HasSynced() bool {
	return d.view.informer.HasSynced() && d.stsInf.HasSynced()
}

// ValidateSpec returns the problems that make spec unusable with a
// StatefulSet: any surge (maxSurge must be 0 or 0%, and maxUnavailable then
// must be positive, as upgrade.Spec.Validate already demands).
func ValidateSpec(spec upgrade.Spec) field.ErrorList {
	p := field.NewPath("spec", "rollingUpdate", "maxSurge")
	s := spec.RollingUpdate.MaxSurge
	if s == nil {
		return field.ErrorList{field.Invalid(p, upgrade.DefaultMaxSurge,
			"must be set to 0 for a StatefulSet (the default is 1): a StatefulSet cannot run two pods for one ordinal")}
	}
	if n, err := intstr.GetScaledValueFromIntOrPercent(s, 1000, true); err != nil || n != 0 {
		return field.ErrorList{field.Invalid(p, s.String(),
			"must be 0 for a StatefulSet: a StatefulSet cannot run two pods for one ordinal")}
	}
	return nil
}

// NewUpgrader validates spec for StatefulSet mode (ValidateSpec) and builds
// an Upgrader on d.Driver().
func (d *StatefulSetDriver) NewUpgrader(spec upgrade.Spec, opts ...upgrade.Option) (*upgrade.Upgrader, error) {
	if errs := ValidateSpec(spec); len(errs) > 0 {
		return nil, fmt.Errorf("kube: statefulset %s: invalid spec: %w", d.cfg.Name, errs.ToAggregate())
	}
	return upgrade.New(d.Driver(), spec, opts...)
}

// statefulSet returns the StatefulSet: the driver's own last write while the
// cache is older, else the cached one. It checks the update strategy.
func (d *StatefulSetDriver) statefulSet() (*appsv1.StatefulSet, error) {
	if !d.HasSynced() {
		return nil, fmt.Errorf("kube: statefulset %s: caches have not synced yet", d.cfg.Name)
	}
	sts, err := d.stsLister.StatefulSets(d.cfg.Namespace).Get(d.cfg.Name)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("kube: statefulset %s: not found in namespace %s", d.cfg.Name, d.cfg.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("kube: statefulset %s: %w", d.cfg.Name, err)
	}
	d.mu.Lock()
	if w := d.written; w != nil {
		if w.UID != sts.UID {
			d.written = nil
		} else if wrv, ok1 := parseRV(w.ResourceVersion); ok1 {
			if crv, ok2 := parseRV(sts.ResourceVersion); ok2 && crv >= wrv {
				d.written = nil // the cache caught up
			} else {
				sts = w
			}
		}
	}
	d.mu.Unlock()
	if sts.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		return nil, fmt.Errorf("kube: statefulset %s: updateStrategy is %q; the driver needs OnDelete", d.cfg.Name, sts.Spec.UpdateStrategy.Type)
	}
	return sts, nil
}

// TemplateVersion returns the version on the StatefulSet's pod template.
func (d *StatefulSetDriver) TemplateVersion() (string, error) {
	sts, err := d.statefulSet()
	if err != nil {
		return "", err
	}
	return Version(sts.Spec.Template.ObjectMeta), nil
}

// Pods lists the StatefulSet's pods (those it controls) from the informer
// cache, overlaid with the driver's own deletes the cache does not show
// yet. It makes no API request. The index is the pod's ordinal.
func (d *StatefulSetDriver) Pods(ctx context.Context) ([]upgrade.Pod, error) {
	sts, err := d.statefulSet()
	if err != nil {
		return nil, err
	}
	sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("kube: statefulset %s: selector: %w", d.cfg.Name, err)
	}
	ps, err := d.view.list(sel, func(p *corev1.Pod) bool {
		ref := metav1.GetControllerOf(p)
		return ref != nil && ref.UID == sts.UID
	})
	if err != nil {
		return nil, err
	}
	out := make([]upgrade.Pod, 0, len(ps))
	for _, p := range ps {
		idx, ok := d.ordinal(p)
		if !ok {
			continue
		}
		out = append(out, d.view.obs.Pod(p, idx))
	}
	return out, nil
}

func (d *StatefulSetDriver) ordinal(p *corev1.Pod) (int32, bool) {
	if s, ok := p.Labels[LabelPodIndex]; ok {
		if n, err := strconv.ParseInt(s, 10, 32); err == nil && n >= 0 {
			return int32(n), true
		}
	}
	return splitOrdinal(p.Name, d.cfg.Name)
}

// SetVersion records version on the StatefulSet's pod template (the
// rollgate.io/version annotation and label, and VersionFunc's changes), so
// that the pods the StatefulSet controller creates from now on run it. It
// writes only when the template holds another version, with a strategic
// merge patch of the template's changed fields (one request).
func (d *StatefulSetDriver) SetVersion(ctx context.Context, version string) error {
	if version == "" {
		return fmt.Errorf("kube: statefulset %s: version is empty", d.cfg.Name)
	}
	sts, err := d.statefulSet()
	if err != nil {
		return err
	}
	if Version(sts.Spec.Template.ObjectMeta) == version {
		return nil
	}
	next := sts.DeepCopy()
	if err := d.cfg.Version(&next.Spec.Template, version); err != nil {
		return fmt.Errorf("kube: statefulset %s: applying version %s to the template: %w", d.cfg.Name, version, err)
	}
	setVersion(&next.Spec.Template.ObjectMeta, version)
	if sel, err := metav1.LabelSelectorAsSelector(next.Spec.Selector); err == nil && !sel.Matches(labels.Set(next.Spec.Template.Labels)) {
		return fmt.Errorf("kube: statefulset %s: the selector must not select on %s: the template's labels no longer match it", d.cfg.Name, LabelVersion)
	}
	// A strategic merge patch of what changed: no resourceVersion
	// precondition, so the controller's status writes never conflict with
	// it, and fields others own are left alone.
	patch, err := strategicpatch.CreateTwoWayMergePatch(mustJSON(sts), mustJSON(next), &appsv1.StatefulSet{})
	if err != nil {
		return fmt.Errorf("kube: statefulset %s: setting the template to version %s: %w", d.cfg.Name, version, err)
	}
	updated, err := d.cfg.Client.AppsV1().StatefulSets(d.cfg.Namespace).Patch(ctx, d.cfg.Name, types.StrategicMergePatchType, patch,
		metav1.PatchOptions{FieldManager: d.cfg.FieldManager})
	if err != nil {
		return fmt.Errorf("kube: statefulset %s: setting the template to version %s: %w", d.cfg.Name, version, err)
	}
	d.mu.Lock()
	d.written = updated
	d.mu.Unlock()
	return nil
}

// Create asks for slot index's pod at version. The StatefulSet controller
// creates pods, so Create only makes sure the template is at version
// (SetVersion). If the slot already has a live pod at another version, the
// controller recreated it from the previous template before the template
// changed; Create deletes that pod (with preconditions) so the controller
// recreates it at version. surge is refused: a StatefulSet runs one pod per
// ordinal.
func (d *StatefulSetDriver) Create(ctx context.Context, index int32, version string, surge bool) error {
	name := d.cfg.Name + "-" + strconv.FormatInt(int64(index), 10)
	if surge {
		return fmt.Errorf("kube: pod %s: surge is not possible with a StatefulSet (one pod per ordinal); set spec.rollingUpdate.maxSurge to 0", name)
	}
	sts, err := d.statefulSet()
	if err != nil {
		return err
	}
	replicas := int32(1)
	if sts.Spec.Replicas != nil {
		replicas = *sts.Spec.Replicas
	}
	if index < 0 || index >= replicas {
		return fmt.Errorf("kube: pod %s: ordinal %d is outside the StatefulSet's %d replicas", name, index, replicas)
	}
	if err := d.SetVersion(ctx, version); err != nil {
		return err
	}
	pods, err := d.Pods(ctx)
	if err != nil {
		return err
	}
	for _, p := range pods {
		if p.Index == index && !p.Terminating && p.Version != version {
			return d.view.deletePod(ctx, p)
		}
	}
	return nil
}

// Delete deletes pod with UID and resourceVersion preconditions; the
// StatefulSet controller recreates it from the current template. A pod
// gone, terminating or replaced by a newer incarnation is not an error; a
// pod that changed since it was observed returns a *StaleError.
func (d *StatefulSetDriver) Delete(ctx context.Context, pod upgrade.Pod) error {
	return d.view.deletePod(ctx, pod)
}

// TargetVersion returns the version the StatefulSet's template should carry
// for the upgrade st describes: FromVersion while rolling back or rolled
// back, ToVersion while in progress, paused or completed, and "" (leave the
// template alone) otherwise — before an upgrade starts, and after a failed
// attempt, whose pods are left as they are.
func TargetVersion(st *status.Status) string {
	if st == nil {
		return ""
	}
	u := st.UpgradeStatus
	if st.Phase == status.PhaseRollingBack && u != nil {
		return u.FromVersion
	}
	if u == nil {
		return ""
	}
	switch u.Phase {
	case status.UpgradeRollingBack, status.UpgradeRolledBack:
		return u.FromVersion
	case status.UpgradeInProgress, status.UpgradePaused, status.UpgradeCompleted:
		return u.ToVersion
	}
	return ""
}

// Sync sets the template to TargetVersion(st) when that is not "".
func (d *StatefulSetDriver) Sync(ctx context.Context, st *status.Status) error {
	v := TargetVersion(st)
	if v == "" {
		return nil
	}
	return d.SetVersion(ctx, v)
}

// Step runs u.Step between two Syncs: the first keeps the template on the
// upgrade's direction, the second applies a direction the Step itself
// changed (an upgrade that started, a rollback that began) before the pods
// it deleted are recreated.
func (d *StatefulSetDriver) Step(ctx context.Context, u *upgrade.Upgrader, st *status.Status, want upgrade.Desired) (upgrade.Result, error) {
	if err := d.Sync(ctx, st); err != nil {
		return upgrade.Result{}, err
	}
	res, err := u.Step(ctx, st, want)
	if serr := d.Sync(ctx, st); serr != nil && err == nil {
		err = serr
	}
	return res, err
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("kube: marshalling %T: %v", v, err))
	}
	return b
}
