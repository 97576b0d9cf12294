package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/rollgate/rollgate/upgrade"
)

// Label and annotation keys the drivers read and write.
const (
	// LabelGroup holds the group name on the pods of PodsDriver.
	LabelGroup = "rollgate.io/group"
	// LabelIndex holds the slot on the pods of PodsDriver.
	LabelIndex = "rollgate.io/index"
	// LabelVersion holds the version when it is a valid label value.
	LabelVersion = "rollgate.io/version"
	// AnnotationVersion always holds the exact version.
	AnnotationVersion = "rollgate.io/version"
	// LabelSurge is "true" on a pod that PodsDriver created as a surge pod
	// beside the slot's pod. It is informative only: once the old pod is
	// gone the surge pod is the slot's pod.
	LabelSurge = "rollgate.io/surge"
)

// DefaultUnschedulableGrace is how long a pod may stay Pending and
// Unschedulable before the drivers report it Failed (Percona's 120 s).
const DefaultUnschedulableGrace = 120 * time.Second

// DefaultFailedReasons returns the container waiting reasons that mean a
// pod will not become ready without a change (ImagePullBackOff, ErrImagePull,
// ErrImageNeverPull, InvalidImageName, CrashLoopBackOff,
// CreateContainerConfigError, CreateContainerError): the drivers report such
// a pod Failed at once instead of letting the Upgrader wait for the timeout.
// It returns a new slice on every call.
func DefaultFailedReasons() []string {
	return []string{
		"ImagePullBackOff",
		"ErrImagePull",
		"ErrImageNeverPull",
		"InvalidImageName",
		"CrashLoopBackOff",
		"CreateContainerConfigError",
		"CreateContainerError",
	}
}

// expectationTTL bounds how long the drivers remember a write the cache does
// not show yet (client-go controllers use 5 minutes for the same purpose).
const expectationTTL = 2 * time.Minute

// Observer turns corev1.Pods into upgrade.Pods. Its zero value uses the
// default failed reasons, the default unschedulable grace and the real
// clock; it is safe for concurrent use.
type Observer struct {
	// Primary reports whether a pod holds the primary role (nil: none does).
	Primary func(*corev1.Pod) bool
	// Estimate gives how long replacing a pod is expected to take, for
	// the LongestFirst order (nil: unknown, 0); e.g. from the size of its
	// volume or an annotation your operator keeps with the time of the
	// pod's last upgrade. A negative estimate is bad input to the Upgrader.
	Estimate func(*corev1.Pod) time.Duration
	// FailedReasons replaces DefaultFailedReasons when not empty.
	FailedReasons []string
	// UnschedulableGrace replaces DefaultUnschedulableGrace when positive.
	UnschedulableGrace time.Duration
	// Clock replaces the real clock (tests).
	Clock clock.PassiveClock
}

func (o *Observer) now() time.Time {
	if o.Clock != nil {
		return o.Clock.Now()
	}
	return time.Now()
}

// Ready reports whether the pod's PodReady condition is True.
func Ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Version returns the version recorded on the pod: the rollgate.io/version
// annotation, else the label, else "".
func Version(meta metav1.ObjectMeta) string {
	if v, ok := meta.Annotations[AnnotationVersion]; ok {
		return v
	}
	return meta.Labels[LabelVersion]
}

// setVersion records version on meta: always the annotation, and the label
// when version is a valid label value (the label is removed otherwise, so it
// never holds a stale version).
func setVersion(meta *metav1.ObjectMeta, version string) {
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[AnnotationVersion] = version
	if meta.Labels == nil {
		meta.Labels = map[string]string{}
	}
	if len(validation.IsValidLabelValue(version)) == 0 {
		meta.Labels[LabelVersion] = version
	} else {
		delete(meta.Labels, LabelVersion)
	}
}

// FailedReason returns why the pod cannot become ready without a change, or
// "" when nothing says so: a container (or init container) waiting for one
// of the failed reasons, a pod in phase Failed, or a pod Pending and
// Unschedulable for longer than the grace period. A terminating pod is
// never reported failed.
func (o *Observer) FailedReason(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return ""
	}
	reasons := o.FailedReasons
	if len(reasons) == 0 {
		reasons = DefaultFailedReasons()
	}
	check := func(kind string, statuses []corev1.ContainerStatus) string {
		for _, cs := range statuses {
			w := cs.State.Waiting
			if w == nil {
				continue
			}
			for _, r := range reasons {
				if w.Reason == r {
					msg := fmt.Sprintf("%s: %s %s", r, kind, cs.Name)
					if w.Message != "" {
						msg += ": " + w.Message
					}
					return msg
				}
			}
		}
		return ""
	}
	if s := check("init container", p.Status.InitContainerStatuses); s != "" {
		return s
	}
	if s := check("container", p.Status.ContainerStatuses); s != "" {
		return s
	}
	if p.Status.Phase == corev1.PodFailed {
		msg := "PodFailed"
		if p.Status.Reason != "" {
			msg += ": " + p.Status.Reason
		}
		if p.Status.Message != "" {
			msg += ": " + p.Status.Message
		}
		return msg
	}
	if p.Status.Phase == corev1.PodPending || p.Status.Phase == "" {
		grace := o.UnschedulableGrace
		if grace <= 0 {
			grace = DefaultUnschedulableGrace
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				since := c.LastTransitionTime.Time
				if since.IsZero() {
					since = p.CreationTimestamp.Time
				}
				if d := o.now().Sub(since); d > grace {
					msg := fmt.Sprintf("Unschedulable for %s", d.Truncate(time.Second))
					if c.Message != "" {
						msg += ": " + c.Message
					}
					return msg
				}
			}
		}
	}
	return ""
}

// Pod converts p, observed in slot index, to an upgrade.Pod. A terminating
// pod is never Ready (it is on its way out, whatever its condition says).
func (o *Observer) Pod(p *corev1.Pod, index int32) upgrade.Pod {
	up := upgrade.Pod{
		Index:       index,
		Name:        p.Name,
		Version:     Version(p.ObjectMeta),
		Ready:       Ready(p) && p.DeletionTimestamp == nil,
		Failed:      o.FailedReason(p),
		Created:     p.CreationTimestamp.Time,
		UID:         string(p.UID),
		Terminating: p.DeletionTimestamp != nil,
	}
	if o.Primary != nil {
		up.Primary = o.Primary(p)
	}
	if o.Estimate != nil {
		up.Estimate = o.Estimate(p)
	}
	return up
}

// podView is the part both drivers share: the pods of one namespace seen
// through an informer's lister, overlaid with the driver's own writes that
// the cache does not show yet, and deletes with preconditions.
type podView struct {
	client   kubernetes.Interface
	ns       string
	what     string // "group redis" or "statefulset redis": error prefix after "kube: "
	lister   corelisters.PodLister
	informer cache.SharedIndexInformer
	obs      *Observer
	clock    clock.PassiveClock
	manager  string

	mu      sync.Mutex
	created map[string]expectedPod // by name: pods created, not yet in the cache
	deleted map[types.UID]time.Time
}

type expectedPod struct {
	pod *corev1.Pod
	at  time.Time
}

func newPodView(client kubernetes.Interface, ns, what string, podInformer cache.SharedIndexInformer, obs *Observer, clk clock.PassiveClock, manager string) *podView {
	return &podView{
		client:   client,
		ns:       ns,
		what:     what,
		lister:   corelisters.NewPodLister(podInformer.GetIndexer()),
		informer: podInformer,
		obs:      obs,
		clock:    clk,
		manager:  manager,
		created:  map[string]expectedPod{},
		deleted:  map[types.UID]time.Time{},
	}
}

// errorf formats an error that names the driver's object.
func (v *podView) errorf(format string, args ...any) error {
	return fmt.Errorf("kube: "+v.what+": "+format, args...)
}

// podErrorf formats an error that names a pod.
func (v *podView) podErrorf(pod, format string, args ...any) error {
	return fmt.Errorf("kube: pod "+pod+": "+format, args...)
}

// synced reports an error while the cache has not synced.
func (v *podView) synced() error {
	if !v.informer.HasSynced() {
		return v.errorf("pod cache has not synced yet")
	}
	return nil
}

// list returns the cached pods that match sel and keep, overlaid with the
// driver's own writes the cache does not show yet. The returned pods are
// shared with the cache and must not be modified; terminating overlays are
// copies.
func (v *podView) list(sel labels.Selector, keep func(*corev1.Pod) bool) ([]*corev1.Pod, error) {
	if err := v.synced(); err != nil {
		return nil, err
	}
	cached, err := v.lister.Pods(v.ns).List(sel)
	if err != nil {
		return nil, v.errorf("listing cached pods: %w", err)
	}
	now := v.clock.Now()
	lastRV, lastOK := parseRV(v.informer.LastSyncResourceVersion())

	v.mu.Lock()
	defer v.mu.Unlock()
	byName := make(map[string]*corev1.Pod, len(cached)+len(v.created))
	for _, p := range cached {
		if keep == nil || keep(p) {
			byName[p.Name] = p
		}
	}
	// Pods this driver created that the cache does not show yet.
	for name, e := range v.created {
		p, cachedName := byName[name]
		createdRV, rvOK := parseRV(e.pod.ResourceVersion)
		switch {
		case cachedName && p.UID == e.pod.UID:
			delete(v.created, name) // the cache caught up
			continue
		case now.Sub(e.at) > expectationTTL:
			delete(v.created, name)
			continue
		case rvOK && lastOK && lastRV >= createdRV && !cachedName:
			// The cache has seen every event up to and past the
			// creation and does not hold the pod: it is gone.
			delete(v.created, name)
			continue
		case rvOK && cachedName:
			if rv, ok := parseRV(p.ResourceVersion); ok && rv > createdRV {
				// The cache shows a newer incarnation of the name.
				delete(v.created, name)
				continue
			}
		}
		if sel.Matches(labels.Set(e.pod.Labels)) && (keep == nil || keep(e.pod)) {
			byName[name] = e.pod
		}
	}
	// Pods this driver deleted that the cache still shows running.
	for uid, at := range v.deleted {
		if now.Sub(at) > expectationTTL {
			delete(v.deleted, uid)
		}
	}
	out := make([]*corev1.Pod, 0, len(byName))
	for _, p := range byName {
		if at, ok := v.deleted[p.UID]; ok {
			if p.DeletionTimestamp != nil {
				delete(v.deleted, p.UID) // the cache caught up
			} else {
				c := p.DeepCopy()
				ts := metav1.NewTime(at)
				c.DeletionTimestamp = &ts
				p = c
			}
		}
		out = append(out, p)
	}
	// Forget deletes of pods the cache no longer has at all.
	for uid := range v.deleted {
		found := false
		for _, p := range out {
			if p.UID == uid {
				found = true
				break
			}
		}
		if !found {
			delete(v.deleted, uid)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func parseRV(rv string) (uint64, bool) {
	if rv == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(rv, 10, 64)
	return n, err == nil
}

// expectCreated remembers a pod the API server accepted.
func (v *podView) expectCreated(p *corev1.Pod) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.created[p.Name] = expectedPod{pod: p, at: v.clock.Now()}
}

// cachedPod returns the pod named name from the cache or the driver's own
// writes, or nil.
func (v *podView) cachedPod(name string) *corev1.Pod {
	v.mu.Lock()
	e, ok := v.created[name]
	v.mu.Unlock()
	p, err := v.lister.Pods(v.ns).Get(name)
	if err == nil {
		if ok && p.UID != e.pod.UID {
			cached, ok1 := parseRV(p.ResourceVersion)
			mine, ok2 := parseRV(e.pod.ResourceVersion)
			if !ok1 || !ok2 || mine > cached {
				return e.pod
			}
		}
		return p
	}
	if ok {
		return e.pod
	}
	return nil
}

// deletePod deletes the pod incarnation pod names, with a UID precondition
// and, when the cache holds that incarnation, a resourceVersion
// precondition, so that neither a newer incarnation of the name nor a pod
// that changed since it was observed is deleted. A pod already gone, already
// terminating or replaced by a newer incarnation is not an error (there is
// nothing left to delete); a pod that changed since it was observed is, so
// the caller decides again on a fresh view. A pod the driver already deleted
// is not deleted twice.
func (v *podView) deletePod(ctx context.Context, pod upgrade.Pod) error {
	if pod.Name == "" || pod.UID == "" {
		return v.errorf("delete: pod %q has no name or UID; the driver deletes only observed pods", pod.Name)
	}
	uid := types.UID(pod.UID)
	v.mu.Lock()
	_, already := v.deleted[uid]
	v.mu.Unlock()
	if already {
		return nil
	}
	pre := &metav1.Preconditions{UID: &uid}
	if cp := v.cachedPod(pod.Name); cp != nil && cp.UID == uid {
		if cp.DeletionTimestamp != nil {
			return nil // terminating already
		}
		if cp.ResourceVersion != "" {
			rv := cp.ResourceVersion
			pre.ResourceVersion = &rv
		}
	}
	err := v.client.CoreV1().Pods(v.ns).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: pre})
	switch {
	case err == nil:
		v.mu.Lock()
		v.deleted[uid] = v.clock.Now()
		v.mu.Unlock()
		return nil
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		// A precondition failed. Find out which: a different incarnation
		// (nothing to do) or the same one changed (decide again).
		cur, gerr := v.client.CoreV1().Pods(v.ns).Get(ctx, pod.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(gerr):
			return nil
		case gerr != nil:
			return v.podErrorf(pod.Name, "delete precondition failed (%v); reading the pod: %w", err, gerr)
		case cur.UID != uid:
			return nil // a newer incarnation holds the name; ours is gone
		case cur.DeletionTimestamp != nil:
			v.mu.Lock()
			v.deleted[uid] = v.clock.Now()
			v.mu.Unlock()
			return nil
		default:
			return &StaleError{Pod: pod.Name, Observed: deref(pre.ResourceVersion), Current: cur.ResourceVersion}
		}
	default:
		return v.podErrorf(pod.Name, "delete: %w", err)
	}
}

// StaleError is returned by Delete when the pod changed since the driver
// observed it (its resourceVersion precondition failed): nothing was
// deleted, and calling Step again on a fresh view decides anew.
type StaleError struct {
	Pod      string
	Observed string // resourceVersion the decision was based on
	Current  string // resourceVersion on the server
}

// Error names the pod and both versions.
func (e *StaleError) Error() string {
	return fmt.Sprintf("kube: pod %s: not deleted: it changed since it was observed (resourceVersion %s, now %s); decide again on a fresh view",
		e.Pod, e.Observed, e.Current)
}

// IsStale reports whether err (or an error it wraps) is a *StaleError.
func IsStale(err error) bool {
	var s *StaleError
	return errors.As(err, &s)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// splitOrdinal parses the ordinal suffix of "<base>-<n>".
func splitOrdinal(name, base string) (int32, bool) {
	rest, ok := strings.CutPrefix(name, base+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != rest {
		return 0, false
	}
	return int32(n), true
}
