// Package controller is the example Kubernetes controller of rollgate,
// written with plain client-go (informers and a work queue, no framework).
//
// It reconciles one group described by a ConfigMap:
//
//	apiVersion: v1
//	kind: ConfigMap
//	metadata: {name: redis, namespace: db}
//	data:
//	  replicas: "3"
//	  version: "7.2.4"
//	  image: redis              # the pods run image:version
//	  spec: |                   # the design's spec: rollingUpdate, checks, rollback
//	    rollingUpdate: {maxSurge: 1, maxUnavailable: 0, partition: 0}
//	    rollback: {enabled: true, onFailure: true}
//
// with the pods-mode driver of upgrade/kube (pods "<name>-<index>", owned by
// the ConfigMap), and writes the group's status back as JSON under the
// ConfigMap's "status" key. It records Events on the ConfigMap.
//
// Status writes are batched: a Step that changes the attempt's phase (or
// the versions, the rollback count, the failures) is persisted before the
// next Step, as the Upgrader's write contract requires; progress within a
// phase (slot stages, updated replicas) is persisted at most every
// StatusInterval. A restarted controller may therefore start from a status
// a few seconds old, which the Upgrader converges from.
package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/kube"
	"github.com/rollgate/rollgate/verify"
)

// Keys of the ConfigMap's data.
const (
	KeyReplicas = "replicas"
	KeyVersion  = "version"
	KeyImage    = "image"
	KeySpec     = "spec"
	KeyStatus   = "status"
)

// DefaultStatusInterval is how often progress within a phase is persisted.
const DefaultStatusInterval = 5 * time.Second

// Config configures a Controller.
type Config struct {
	// Client reaches the API server. Required.
	Client kubernetes.Interface
	// Namespace and Name of the ConfigMap. Required.
	Namespace, Name string
	// Template is the pods' template; the controller sets the first
	// container's image to image:version. Default: one container "app".
	Template *corev1.PodTemplateSpec
	// Access lets checks reach pods (exec, GET); optional.
	Access verify.PodAccess
	// Recorder records Events on the ConfigMap; optional.
	Recorder record.EventRecorder
	// UpgraderOptions are added to every Upgrader (verifiers, prechecks).
	UpgraderOptions []upgrade.Option
	// StatusInterval bounds how often progress within a phase is written
	// (default DefaultStatusInterval; negative: write every change).
	StatusInterval time.Duration
	// Logger (default: discard).
	Logger logr.Logger
	// OnStep, when set, is called after every Step with its outcome (tests
	// and benchmarks).
	OnStep func(st status.Status, res upgrade.Result, err error)
}

// Stats count what the controller did.
type Stats struct {
	Steps        int // Upgrader Steps run
	StatusWrites int // status patches sent
}

// Controller reconciles one ConfigMap-described group. Build it with New and
// run it with Run; it is not reusable after Run returns.
type Controller struct {
	cfg      Config
	pods     informers.SharedInformerFactory
	cms      informers.SharedInformerFactory
	cmLister corelisters.ConfigMapLister
	template corev1.PodTemplateSpec
	queue    workqueue.TypedRateLimitingInterface[string]
	log      logr.Logger

	// Owned by the reconcile goroutine.
	driver    *kube.PodsDriver // built for the ConfigMap's UID (the pods' owner)
	ownerUID  types.UID
	st        *status.Status
	written   string
	writtenSt *status.Status
	writtenAt time.Time

	mu       sync.Mutex
	image    string
	snapshot *status.Status
	stats    Stats
}

// New builds the controller and its informers (not started).
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Namespace == "" || cfg.Name == "" {
		return nil, errors.New("controller: Client, Namespace and Name are required")
	}
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = DefaultStatusInterval
	}
	log := cfg.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	tpl := cfg.Template
	if tpl == nil {
		tpl = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "placeholder"}}}}
	}
	c := &Controller{cfg: cfg, log: log.WithValues("configmap", cfg.Namespace+"/"+cfg.Name)}
	c.pods = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = kube.LabelGroup + "=" + cfg.Name }))
	c.cms = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", cfg.Name).String()
		}))
	c.cmLister = c.cms.Core().V1().ConfigMaps().Lister()
	c.template = *tpl.DeepCopy()
	c.queue = workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	enqueue := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.queue.Add(cfg.Name) },
		UpdateFunc: func(any, any) { c.queue.Add(cfg.Name) },
		DeleteFunc: func(any) { c.queue.Add(cfg.Name) },
	}
	if _, err := c.pods.Core().V1().Pods().Informer().AddEventHandler(enqueue); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	if _, err := c.cms.Core().V1().ConfigMaps().Informer().AddEventHandler(enqueue); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	return c, nil
}

// setImage is the driver's VersionFunc: image:version on the first
// container.
func (c *Controller) setImage(tpl *corev1.PodTemplateSpec, version string) error {
	c.mu.Lock()
	image := c.image
	c.mu.Unlock()
	if len(tpl.Spec.Containers) == 0 {
		return errors.New("the pod template has no container")
	}
	if image == "" {
		image = "registry.k8s.io/pause"
	}
	tpl.Spec.Containers[0].Image = image + ":" + version
	return nil
}

// Stats returns what the controller did so far.
func (c *Controller) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Status returns a copy of the controller's current status (nil before
// the first reconcile).
func (c *Controller) Status() *status.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snapshot == nil {
		return nil
	}
	return c.snapshot.DeepCopy()
}

// Run starts the informers, waits for their caches and reconciles until
// ctx ends. Before returning it writes the status if a write is pending.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	c.pods.Start(ctx.Done())
	c.cms.Start(ctx.Done())
	defer c.pods.Shutdown()
	defer c.cms.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), c.pods.Core().V1().Pods().Informer().HasSynced, c.cms.Core().V1().ConfigMaps().Informer().HasSynced) {
		return fmt.Errorf("controller: configmap %s/%s: caches did not sync: %w", c.cfg.Namespace, c.cfg.Name, ctx.Err())
	}
	c.queue.Add(c.cfg.Name)
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	for {
		key, quit := c.queue.Get()
		if quit {
			return nil
		}
		after, err := c.reconcile(ctx)
		c.queue.Done(key)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			c.log.Error(err, "reconcile")
			c.queue.AddRateLimited(key)
		default:
			c.queue.Forget(key)
			if after > 0 {
				c.queue.AddAfter(key, after)
			} else if after == 0 {
				c.queue.Add(key)
			}
		}
	}
}

// Group is the parsed ConfigMap.
type Group struct {
	Replicas int32
	Version  string
	Image    string
	Spec     upgrade.Spec
}

// Parse reads a ConfigMap's data.
func Parse(cm *corev1.ConfigMap) (Group, error) {
	var g Group
	n, err := strconv.ParseInt(strings.TrimSpace(cm.Data[KeyReplicas]), 10, 32)
	if err != nil || n < 0 {
		return g, fmt.Errorf("data.%s: %q is not a replica count", KeyReplicas, cm.Data[KeyReplicas])
	}
	g.Replicas = int32(n)
	g.Version = strings.TrimSpace(cm.Data[KeyVersion])
	if g.Version == "" {
		return g, fmt.Errorf("data.%s is empty", KeyVersion)
	}
	g.Image = strings.TrimSpace(cm.Data[KeyImage])
	g.Spec, err = upgrade.ParseSpec([]byte(cm.Data[KeySpec]))
	if err != nil {
		return g, fmt.Errorf("data.%s: %w", KeySpec, err)
	}
	return g, nil
}

// reconcile runs one Step and persists the status as the batching policy
// says. It returns when to reconcile again: <0 never (until an event), 0 at
// once, >0 after that long.
func (c *Controller) reconcile(ctx context.Context) (time.Duration, error) {
	cm, err := c.cmLister.ConfigMaps(c.cfg.Namespace).Get(c.cfg.Name)
	if apierrors.IsNotFound(err) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	g, err := Parse(cm)
	if err != nil {
		c.event(cm, corev1.EventTypeWarning, "InvalidSpec", err.Error())
		return -1, nil // wait for the ConfigMap to change
	}
	c.mu.Lock()
	c.image = g.Image
	c.mu.Unlock()
	if c.st == nil {
		c.st = &status.Status{}
		if raw := cm.Data[KeyStatus]; raw != "" {
			if err := json.Unmarshal([]byte(raw), c.st); err != nil {
				c.log.Info("ignoring an unreadable status", "error", err.Error())
				c.st = &status.Status{}
			} else {
				c.written = raw
				c.writtenSt = c.st.DeepCopy()
				c.writtenAt = time.Now()
			}
		}
	}
	st := c.st

	if c.driver == nil || c.ownerUID != cm.UID {
		d, err := kube.NewPodsDriver(kube.PodsConfig{
			Client:    c.cfg.Client,
			Informers: c.pods,
			Namespace: c.cfg.Namespace,
			Group:     c.cfg.Name,
			Template:  c.template,
			Version:   c.setImage,
			Owner:     metav1.NewControllerRef(cm, corev1.SchemeGroupVersion.WithKind("ConfigMap")),
		})
		if err != nil {
			return -1, fmt.Errorf("controller: %w", err)
		}
		c.driver, c.ownerUID = d, cm.UID
	}
	opts := []upgrade.Option{upgrade.WithLogger(c.log)}
	if c.cfg.Access != nil {
		opts = append(opts, upgrade.WithPodAccess(c.cfg.Access))
	}
	if c.cfg.Recorder != nil {
		opts = append(opts, upgrade.WithNotifier(kube.NewEventNotifier(c.cfg.Recorder, cm)))
	}
	opts = append(opts, c.cfg.UpgraderOptions...)
	u, err := upgrade.New(c.driver.Driver(), g.Spec, opts...)
	if err != nil {
		c.event(cm, corev1.EventTypeWarning, "InvalidSpec", err.Error())
		return -1, nil
	}
	res, stepErr := u.Step(ctx, st, upgrade.Desired{Version: g.Version, Replicas: g.Replicas})
	snapshot := st.DeepCopy()
	c.mu.Lock()
	c.stats.Steps++
	c.snapshot = snapshot
	c.mu.Unlock()
	if c.cfg.OnStep != nil {
		c.cfg.OnStep(*snapshot.DeepCopy(), res, stepErr)
	}
	flushIn, err := c.persist(ctx, st, res.Done)
	if err != nil {
		return 0, err
	}
	if stepErr != nil {
		c.log.Info("step", "error", stepErr.Error())
		if res.RequeueAfter <= 0 {
			res.RequeueAfter = time.Second
		}
	}
	next := time.Duration(-1)
	if !res.Done {
		next = res.RequeueAfter
	}
	if flushIn > 0 && (next < 0 || flushIn < next) {
		next = flushIn
	}
	return next, nil
}

// significant reports whether the change from a (nil: nothing written yet)
// to b must be persisted before the next Step: the attempt's phase,
// versions, rollback count or failures.
func significant(a, b *status.Status) bool {
	if a == nil {
		return true
	}
	if a.Phase != b.Phase || a.CurrentVersion != b.CurrentVersion || a.TargetVersion != b.TargetVersion || a.RollbackCount != b.RollbackCount {
		return true
	}
	ua, ub := a.UpgradeStatus, b.UpgradeStatus
	if (ua == nil) != (ub == nil) {
		return true
	}
	if ua == nil {
		return false
	}
	return ua.Phase != ub.Phase || ua.FromVersion != ub.FromVersion || ua.ToVersion != ub.ToVersion || len(ua.Failures) != len(ub.Failures)
}

// persist writes st when it must (a significant change since the last
// write, or Done) or when StatusInterval has passed since the last write;
// otherwise it returns how long until a write is due.
func (c *Controller) persist(ctx context.Context, st *status.Status, done bool) (time.Duration, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	if string(raw) == c.written {
		return -1, nil
	}
	since := time.Since(c.writtenAt)
	if !done && !significant(c.writtenSt, st) && c.cfg.StatusInterval > 0 && since < c.cfg.StatusInterval {
		return c.cfg.StatusInterval - since, nil
	}
	patch, err := json.Marshal(map[string]any{"data": map[string]string{KeyStatus: string(raw)}})
	if err != nil {
		return 0, err
	}
	if _, err := c.cfg.Client.CoreV1().ConfigMaps(c.cfg.Namespace).Patch(ctx, c.cfg.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "rollgate-example"}); err != nil {
		return 0, fmt.Errorf("controller: configmap %s/%s: writing the status: %w", c.cfg.Namespace, c.cfg.Name, err)
	}
	c.written = string(raw)
	c.writtenSt = st.DeepCopy()
	c.writtenAt = time.Now()
	c.mu.Lock()
	c.stats.StatusWrites++
	c.mu.Unlock()
	return -1, nil
}

func (c *Controller) event(cm *corev1.ConfigMap, typ, reason, msg string) {
	c.log.Info(msg, "reason", reason)
	if c.cfg.Recorder != nil {
		c.cfg.Recorder.Event(cm, typ, reason, msg)
	}
}
