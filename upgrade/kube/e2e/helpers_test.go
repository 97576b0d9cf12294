package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rollgate/rollgate/internal/kubeenv"
	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/kube"
)

// startKubelet runs a Kubelet for a node of its own in ns until the test
// ends; images ending in ":bad" stay in ImagePullBackOff. It returns the
// node name to put in pod templates.
func startKubelet(t testing.TB, env *kubeenv.Env, ns string, ready, del time.Duration) string {
	t.Helper()
	node := "node-" + ns
	client, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	k := &kubeenv.Kubelet{
		Client: client, Namespace: ns, NodeName: node, ReadyAfter: ready, DeleteAfter: del,
		Fate: func(p *corev1.Pod) kubeenv.Fate {
			if strings.HasSuffix(p.Spec.Containers[0].Image, ":bad") {
				return kubeenv.Fate{Waiting: "ImagePullBackOff"}
			}
			return kubeenv.Fate{}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := k.Run(ctx); err != nil {
			t.Errorf("kubelet: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return node
}

func podTemplate(node string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "redis"}},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "redis", Image: "redis:placeholder"}},
		},
	}
}

// factory returns an informer factory for ns, started and synced after
// the drivers registered their informers (call start).
func factory(client kubernetes.Interface, ns string) informers.SharedInformerFactory {
	return informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
}

func start(t testing.TB, ctx context.Context, f informers.SharedInformerFactory) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(func() {
		cancel()
		f.Shutdown()
	})
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("cache of %v did not sync", typ)
		}
	}
}

// steps calls step until it reports Done without error, polling at most
// every 20 ms, for at most limit.
func steps(t testing.TB, limit time.Duration, step func() (upgrade.Result, error)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last error
	for {
		res, err := step()
		if err != nil {
			if last == nil || last.Error() != err.Error() {
				t.Logf("step: %v", err)
			}
			last = err
		}
		if res.Done && err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done after %s (last error %v)", limit, last)
		}
		wait := res.RequeueAfter
		if wait <= 0 || wait > 20*time.Millisecond {
			wait = 20 * time.Millisecond
		}
		time.Sleep(wait)
	}
}

// waitPods polls d until cond holds, for at most limit.
func waitPods(t testing.TB, d upgrade.PodDriver, limit time.Duration, what string, cond func([]upgrade.Pod) bool) []upgrade.Pod {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ps, err := d.Pods(context.Background())
		if err == nil && cond(ps) {
			return ps
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s (err %v)", what, describe(ps), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// steady is the condition: replicas ready, non-terminating pods, one per
// slot, all at version.
func steady(replicas int32, version string) func([]upgrade.Pod) bool {
	return func(ps []upgrade.Pod) bool {
		if int32(len(ps)) != replicas {
			return false
		}
		seen := map[int32]bool{}
		for _, p := range ps {
			if !p.Ready || p.Terminating || p.Version != version || seen[p.Index] {
				return false
			}
			seen[p.Index] = true
		}
		return true
	}
}

func describe(ps []upgrade.Pod) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s[%d %s ready=%t term=%t failed=%q] ", p.Name, p.Index, p.Version, p.Ready, p.Terminating, p.Failed)
	}
	return b.String()
}

func describeStatus(st *status.Status) string {
	if st == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("phase=%s current=%s target=%s rollbacks=%d", st.Phase, st.CurrentVersion, st.TargetVersion, st.RollbackCount)
	if u := st.UpgradeStatus; u != nil {
		s += fmt.Sprintf(" upgrade{%s %s->%s updated=%d/%d failures=%d msg=%q}", u.Phase, u.FromVersion, u.ToVersion, u.UpdatedReplicas, u.TotalReplicas, len(u.Failures), u.Message)
	}
	return s
}

// healthServer answers GET /health/<version> on loopback: 500 for the
// versions in broken, 200 otherwise. It returns the port.
func healthServer(t testing.TB, broken ...string) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := strings.TrimPrefix(r.URL.Path, "/health/")
		for _, b := range broken {
			if v == b {
				http.Error(w, "replication not caught up", http.StatusInternalServerError)
				return
			}
		}
		fmt.Fprint(w, "ok")
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return int32(l.Addr().(*net.TCPAddr).Port)
}

func mustClient(t testing.TB, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newPodsDriver builds a pods-mode driver for group in ns on client.
func newPodsDriver(t testing.TB, client kubernetes.Interface, f informers.SharedInformerFactory, ns, group, node string) *kube.PodsDriver {
	t.Helper()
	d, err := kube.NewPodsDriver(kube.PodsConfig{
		Client: client, Informers: f, Namespace: ns, Group: group,
		Template: podTemplate(node), Version: kube.ImageVersion("redis", "redis"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
