package e2e

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/rollgate/rollgate/examples/kubernetes/controller"
	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/kube"
)

// The benchmark's group: N pods, Ready D after creation, gone del after
// deletion was requested (the measurement).
const (
	benchN   = 10
	benchD   = 2 * time.Second
	benchDel = 1 * time.Second
)

// bound is the ideal makespan: rounds of (deletion + readiness) with k
// slots moving at once.
func bound(k int) time.Duration {
	return time.Duration(math.Ceil(float64(benchN)/float64(k))) * (benchD + benchDel)
}

// BenchmarkPodsUpgrade measures the example controller (pods-mode driver,
// batched status writes) upgrading N=10 pods: makespan against the bound,
// and the controller's API requests per pod upgraded (writes exclude
// Events and include its status writes; reads are GETs and LISTs after
// the informers synced).
//
//	go test ./upgrade/kube/e2e/ -run '^$' -bench . -benchtime 1x
func BenchmarkPodsUpgrade(b *testing.B) {
	env := need(b)
	for _, c := range []struct {
		name        string
		surge, unav int
		k           int
	}{
		{"maxUnavailable=1", 0, 1, 1},
		{"maxUnavailable=3", 0, 3, 3},
		{"maxSurge=1,maxUnavailable=0", 1, 0, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				benchPods(b, c.surge, c.unav, bound(c.k))
			}
		})
	}
	_ = env
}

func benchPods(b *testing.B, surge, unav int, bound time.Duration) {
	env := need(b)
	ns := namespace(b, env.Client)
	node := startKubelet(b, env, ns, benchD, benchDel)
	tpl := podTemplate(node)
	group(b, env.Client, ns, "redis", benchN, "v1", fmt.Sprintf("rollingUpdate: {maxSurge: %d, maxUnavailable: %d, timeout: 60s}", surge, unav))
	var rc kube.RequestCounter
	client := mustClient(b, rc.WrapConfig(env.Config))
	var mu sync.Mutex
	var completed time.Time
	cfg := controller.Config{
		Client: client, Namespace: ns, Name: "redis", Template: &tpl,
		OnStep: func(st status.Status, res upgrade.Result, err error) {
			if st.CurrentVersion == "v2" && st.UpgradeStatus != nil && st.UpgradeStatus.Phase == status.UpgradeCompleted {
				mu.Lock()
				if completed.IsZero() {
					completed = time.Now()
				}
				mu.Unlock()
			}
		},
	}
	f := factory(env.Client, ns)
	view := newPodsDriver(b, env.Client, f, ns, "redis", node)
	start(b, context.Background(), f)
	c, stop := runController(b, env, cfg)
	defer stop()
	waitPods(b, view, 60*time.Second, "the group steady at v1", steady(benchN, "v1"))
	waitStored(b, env.Client, ns, "redis", 60*time.Second, "running v1", func(st *status.Status) bool {
		return st.Phase == status.PhaseRunning && st.CurrentVersion == "v1"
	})
	time.Sleep(200 * time.Millisecond) // let the last status write settle
	before, stats0 := rc.Counts(), c.Stats()
	b.ResetTimer()
	t0 := time.Now()
	setVersion(b, env.Client, ns, "redis", "v2")
	waitStored(b, env.Client, ns, "redis", 3*bound+30*time.Second, "completed", func(st *status.Status) bool {
		return st.UpgradeStatus != nil && st.UpgradeStatus.Phase == status.UpgradeCompleted && st.CurrentVersion == "v2"
	})
	b.StopTimer()
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	makespan := completed.Sub(t0)
	mu.Unlock()
	got := rc.Counts().Sub(before)
	stats := c.Stats()
	perPod := func(n int) float64 { return float64(n) / benchN }
	b.ReportMetric(makespan.Seconds(), "makespan-s")
	b.ReportMetric(makespan.Seconds()/bound.Seconds(), "makespan/bound")
	b.ReportMetric(perPod(got.Writes), "writes/pod")
	b.ReportMetric(perPod(got.Reads), "reads/pod")
	b.ReportMetric(perPod(stats.StatusWrites-stats0.StatusWrites), "status-writes/pod")
	b.Logf("makespan %.2fs bound %.0fs (%.3f); per pod: writes %.2f (status %.2f) reads %.2f; steps %d; requests %v",
		makespan.Seconds(), bound.Seconds(), makespan.Seconds()/bound.Seconds(), perPod(got.Writes),
		perPod(stats.StatusWrites-stats0.StatusWrites), perPod(got.Reads), stats.Steps-stats0.Steps, got)
}

// BenchmarkStatefulSetController measures the same upgrade done by the
// StatefulSet controller of kube-controller-manager (RollingUpdate with
// maxUnavailable), side by side: makespan, and the controller manager's
// API requests per pod (counted by the environment's proxy in front of it)
// plus the one template update.
func BenchmarkStatefulSetController(b *testing.B) {
	for _, k := range []int{1, 3} {
		b.Run(fmt.Sprintf("maxUnavailable=%d", k), func(b *testing.B) {
			for range b.N {
				benchSTS(b, k)
			}
		})
	}
}

func benchSTS(b *testing.B, k int) {
	env := need(b)
	ctx := context.Background()
	ns := namespace(b, env.Client)
	node := startKubelet(b, env, ns, benchD, benchDel)
	replicas := int32(benchN)
	tpl := podTemplate(node)
	tpl.Spec.Containers[0].Image = "redis:v1"
	mu := intstr.FromInt32(int32(k))
	zero := int32(0)
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas, ServiceName: "redis",
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "redis"}},
			Template:            tpl,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &zero, MaxUnavailable: &mu}},
		},
	}
	if _, err := env.Client.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	rolledOut := func() (bool, *appsv1.StatefulSet) {
		s, err := env.Client.AppsV1().StatefulSets(ns).Get(ctx, "redis", metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		st := s.Status
		return st.ObservedGeneration == s.Generation && st.UpdatedReplicas == replicas && st.ReadyReplicas == replicas &&
			st.CurrentRevision == st.UpdateRevision, s
	}
	deadline := time.Now().Add(60 * time.Second)
	for ok, _ := rolledOut(); !ok; ok, _ = rolledOut() {
		if time.Now().After(deadline) {
			b.Fatal("the StatefulSet never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, s := rolledOut()
	if s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable == nil && k > 1 {
		b.Logf("maxUnavailable dropped by the API server (feature gate off): measuring maxUnavailable 1")
	}
	s.Spec.Template.Spec.Containers[0].Image = "redis:v2"
	time.Sleep(300 * time.Millisecond)
	before := plane.kcm.Counts()
	b.ResetTimer()
	t0 := time.Now()
	if _, err := env.Client.AppsV1().StatefulSets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		b.Fatal(err)
	}
	deadline = time.Now().Add(3*bound(k) + 60*time.Second)
	for ok, _ := rolledOut(); !ok; ok, _ = rolledOut() {
		if time.Now().After(deadline) {
			b.Fatal("the rollout did not finish")
		}
		time.Sleep(20 * time.Millisecond)
	}
	makespan := time.Since(t0)
	b.StopTimer()
	time.Sleep(300 * time.Millisecond)
	// The controller manager's requests while it rolled the set out, plus
	// the template update that started it (the operator's one write).
	got := plane.kcm.Counts().Sub(before)
	writes := float64(got.Writes+1) / benchN
	b.ReportMetric(makespan.Seconds(), "makespan-s")
	b.ReportMetric(makespan.Seconds()/bound(k).Seconds(), "makespan/bound")
	b.ReportMetric(writes, "writes/pod")
	b.ReportMetric(float64(got.Reads)/benchN, "reads/pod")
	b.Logf("StatefulSet controller: makespan %.2fs bound %.0fs (%.3f); per pod: writes %.2f reads %.2f; controller manager requests %v",
		makespan.Seconds(), bound(k).Seconds(), makespan.Seconds()/bound(k).Seconds(), writes, float64(got.Reads)/benchN, got)
}
