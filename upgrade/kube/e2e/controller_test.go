package e2e

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/rollgate/rollgate/examples/kubernetes/controller"
	"github.com/rollgate/rollgate/internal/kubeenv"
	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/kube"
)

// group creates the ConfigMap that describes a group.
func group(t testing.TB, client kubernetes.Interface, ns, name string, replicas int, version, spec string) *corev1.ConfigMap {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Data: map[string]string{
			controller.KeyReplicas: strconv.Itoa(replicas),
			controller.KeyVersion:  version,
			controller.KeyImage:    "redis",
			controller.KeySpec:     spec,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func setVersion(t testing.TB, client kubernetes.Interface, ns, name, version string) {
	t.Helper()
	patch, _ := json.Marshal(map[string]any{"data": map[string]string{controller.KeyVersion: version}})
	if _, err := client.CoreV1().ConfigMaps(ns).Patch(context.Background(), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// storedStatus reads the status the controller wrote into the ConfigMap.
func storedStatus(t testing.TB, client kubernetes.Interface, ns, name string) *status.Status {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw := cm.Data[controller.KeyStatus]
	if raw == "" {
		return nil
	}
	var st status.Status
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

// waitStored polls the stored status until cond holds.
func waitStored(t testing.TB, client kubernetes.Interface, ns, name string, limit time.Duration, what string, cond func(*status.Status) bool) *status.Status {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st := storedStatus(t, client, ns, name)
		if st != nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; stored status: %s", what, describeStatus(st))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runController runs an example controller until the returned stop is
// called (stop waits for it to return).
func runController(t testing.TB, env *kubeenv.Env, cfg controller.Config) (*controller.Controller, func()) {
	t.Helper()
	c, err := controller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx); err != nil {
			t.Errorf("controller: %v", err)
		}
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return c, stop
}

// TestControllerRestartMidUpgrade runs the example controller, stops it in
// the middle of an upgrade (its informers and Upgrader are gone; the stored
// status is up to a few seconds old, as the controller batches progress
// writes) and starts a new one, which must converge to the completed
// upgrade with every pod at the target and none left over.
func TestControllerRestartMidUpgrade(t *testing.T) {
	env := need(t)
	t.Parallel()
	ns := namespace(t, env.Client)
	node := startKubelet(t, env, ns, 400*time.Millisecond, 300*time.Millisecond)
	tpl := podTemplate(node)
	const replicas = 6
	group(t, env.Client, ns, "redis", replicas, "v1", `
rollingUpdate: {maxSurge: 1, maxUnavailable: 1, timeout: 60s}
rollback: {enabled: true, onFailure: true}
`)
	cfg := controller.Config{Client: env.Client, Namespace: ns, Name: "redis", Template: &tpl, StatusInterval: 3 * time.Second}
	f := factory(env.Client, ns)
	view, err := kube.NewPodsDriver(kube.PodsConfig{Client: env.Client, Informers: f, Namespace: ns, Group: "redis", Template: tpl, Version: kube.ImageVersion("", "redis")})
	if err != nil {
		t.Fatal(err)
	}
	start(t, t.Context(), f)
	_, stopA := runController(t, env, cfg)
	waitPods(t, view, 60*time.Second, "the group steady at v1", steady(replicas, "v1"))
	waitStored(t, env.Client, ns, "redis", 60*time.Second, "the group running v1", func(st *status.Status) bool {
		return st.Phase == status.PhaseRunning && st.CurrentVersion == "v1"
	})

	setVersion(t, env.Client, ns, "redis", "v2")
	// Stop the controller once a few slots moved.
	waitPods(t, view, 60*time.Second, "two slots ready at v2", func(ps []upgrade.Pod) bool {
		n := 0
		for _, p := range ps {
			if p.Version == "v2" && p.Ready {
				n++
			}
		}
		return n >= 2
	})
	stopA()
	mid := storedStatus(t, env.Client, ns, "redis")
	t.Logf("stopped mid-upgrade; stored status: %s", describeStatus(mid))
	ps, _ := view.Pods(t.Context())
	t.Logf("pods at the stop: %s", describe(ps))

	// A new controller: new informers, new Upgraders, the stored status.
	_, stopB := runController(t, env, cfg)
	defer stopB()
	st := waitStored(t, env.Client, ns, "redis", 90*time.Second, "the upgrade completed", func(st *status.Status) bool {
		return st.UpgradeStatus != nil && st.UpgradeStatus.Phase == status.UpgradeCompleted
	})
	if st.Phase != status.PhaseRunning || st.CurrentVersion != "v2" || st.RollbackCount != 0 {
		t.Fatalf("after the restart: %s", describeStatus(st))
	}
	waitPods(t, view, 10*time.Second, "steady at v2", steady(replicas, "v2"))
}

// TestControllerCanaryAndRollbackEvents runs the example controller through
// a canary and a failed upgrade and checks the Events on the ConfigMap.
func TestControllerCanaryAndRollbackEvents(t *testing.T) {
	env := need(t)
	t.Parallel()
	ns := namespace(t, env.Client)
	node := startKubelet(t, env, ns, 200*time.Millisecond, 100*time.Millisecond)
	tpl := podTemplate(node)
	group(t, env.Client, ns, "redis", 4, "v1", `
rollingUpdate: {maxSurge: 0, maxUnavailable: 1, partition: 2, timeout: 30s}
rollback: {enabled: true, onFailure: true}
`)
	rec, stopRec := kube.NewRecorder(env.Client, nil, "rollgate-e2e")
	defer stopRec()
	cfg := controller.Config{Client: env.Client, Namespace: ns, Name: "redis", Template: &tpl, Recorder: rec}
	f := factory(env.Client, ns)
	view, err := kube.NewPodsDriver(kube.PodsConfig{Client: env.Client, Informers: f, Namespace: ns, Group: "redis", Template: tpl, Version: kube.ImageVersion("", "redis")})
	if err != nil {
		t.Fatal(err)
	}
	start(t, t.Context(), f)
	runController(t, env, cfg)
	waitPods(t, view, 60*time.Second, "the group steady at v1", steady(4, "v1"))
	setVersion(t, env.Client, ns, "redis", "v2")
	waitStored(t, env.Client, ns, "redis", 60*time.Second, "paused at the partition", func(st *status.Status) bool {
		return st.UpgradeStatus != nil && st.UpgradeStatus.Phase == status.UpgradePaused
	})
	setVersion(t, env.Client, ns, "redis", "bad")
	st := waitStored(t, env.Client, ns, "redis", 60*time.Second, "rolled back", func(st *status.Status) bool {
		return st.UpgradeStatus != nil && st.UpgradeStatus.Phase == status.UpgradeRolledBack
	})
	if st.CurrentVersion != "v1" || st.Phase != status.PhaseRunning || st.RollbackCount != 1 {
		t.Errorf("after the rollback: %s", describeStatus(st))
	}
	waitPods(t, view, 30*time.Second, "steady at v1 after the rollback", steady(4, "v1"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := env.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var started, rollback bool
		for _, e := range evs.Items {
			if e.InvolvedObject.Name != "redis" || e.InvolvedObject.Kind != "ConfigMap" {
				continue
			}
			started = started || e.Reason == upgrade.ReasonUpgradeStarted && e.Type == corev1.EventTypeNormal
			rollback = rollback || e.Reason == upgrade.ReasonRollbackStarted && e.Type == corev1.EventTypeWarning
		}
		if started && rollback {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events: started=%t rollbackStarted(warning)=%t", started, rollback)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
