package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/kube"
	"github.com/rollgate/rollgate/upgrade/upgradetest"
	"github.com/rollgate/rollgate/verify"
)

// bring creates the group at version and waits until it is steady.
func bring(t *testing.T, ctx context.Context, d *kube.PodsDriver, u *upgrade.Upgrader, st *status.Status, replicas int32, version string) {
	t.Helper()
	steps(t, 30*time.Second, func() (upgrade.Result, error) {
		return u.Step(ctx, st, upgrade.Desired{Version: version, Replicas: replicas})
	})
	waitPods(t, d, 10*time.Second, "the group steady at "+version, steady(replicas, version))
}

func TestPodsSurgeUpgrade(t *testing.T) {
	env := need(t)
	t.Parallel()
	ctx := t.Context()
	ns := namespace(t, env.Client)
	node := startKubelet(t, env, ns, 300*time.Millisecond, 200*time.Millisecond)
	f := factory(env.Client, ns)
	d := newPodsDriver(t, env.Client, f, ns, "redis", node)
	start(t, ctx, f)
	spec, err := upgrade.ParseSpec([]byte(`rollingUpdate: {maxSurge: 1, maxUnavailable: 0, timeout: 60s}`))
	if err != nil {
		t.Fatal(err)
	}
	rec := record.NewFakeRecorder(100)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: ns}}
	u, err := upgrade.New(d.Driver(), spec, upgrade.WithNotifier(kube.NewEventNotifier(rec, cm)))
	if err != nil {
		t.Fatal(err)
	}
	st := &status.Status{}
	bring(t, ctx, d, u, st, 4, "v1")

	// Watch the budget while upgrading: never more than replicas+1 pods.
	var maxPods int
	steps(t, 60*time.Second, func() (upgrade.Result, error) {
		ps, _ := d.Pods(ctx)
		maxPods = max(maxPods, len(ps))
		return u.Step(ctx, st, upgrade.Desired{Version: "v2", Replicas: 4})
	})
	if st.Phase != status.PhaseRunning || st.CurrentVersion != "v2" || st.UpgradeStatus.Phase != status.UpgradeCompleted {
		t.Fatalf("status: %s", describeStatus(st))
	}
	ps := waitPods(t, d, 10*time.Second, "steady at v2", steady(4, "v2"))
	for _, p := range ps {
		if p.Name != fmt.Sprintf("redis-%d-surge", p.Index) {
			t.Errorf("slot %d runs %s after a surge upgrade", p.Index, p.Name)
		}
	}
	if maxPods > 5 {
		t.Errorf("%d pods observed at once, budget is 5", maxPods)
	}
	// A second surge upgrade takes the slots' first names again.
	steps(t, 60*time.Second, func() (upgrade.Result, error) {
		return u.Step(ctx, st, upgrade.Desired{Version: "v3", Replicas: 4})
	})
	for _, p := range waitPods(t, d, 10*time.Second, "steady at v3", steady(4, "v3")) {
		if p.Name != fmt.Sprintf("redis-%d", p.Index) {
			t.Errorf("slot %d runs %s", p.Index, p.Name)
		}
	}
	// The pods carry labels, owner and image.
	pod, err := env.Client.CoreV1().Pods(ns).Get(ctx, "redis-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.Containers[0].Image != "redis:v3" || pod.Labels[kube.LabelVersion] != "v3" || pod.Labels[kube.LabelIndex] != "0" {
		t.Errorf("pod redis-0: image %s labels %v", pod.Spec.Containers[0].Image, pod.Labels)
	}
	var events []string
	for len(rec.Events) > 0 {
		events = append(events, <-rec.Events)
	}
	joined := strings.Join(events, "\n")
	if !strings.Contains(joined, "Normal UpgradeCompleted") || !strings.Contains(joined, "Normal PodUpgraded pod 3:") {
		t.Errorf("events:\n%s", joined)
	}
}

func TestPodsCanaryThenPromote(t *testing.T) {
	env := need(t)
	t.Parallel()
	ctx := t.Context()
	ns := namespace(t, env.Client)
	node := startKubelet(t, env, ns, 300*time.Millisecond, 200*time.Millisecond)
	f := factory(env.Client, ns)
	d := newPodsDriver(t, env.Client, f, ns, "redis", node)
	start(t, ctx, f)
	spec, err := upgrade.ParseSpec([]byte(`rollingUpdate: {maxSurge: 0, maxUnavailable: 1, partition: 3, order: ReverseOrdinal}`))
	if err != nil {
		t.Fatal(err)
	}
	u, err := upgrade.New(d.Driver(), spec)
	if err != nil {
		t.Fatal(err)
	}
	st := &status.Status{}
	bring(t, ctx, d, u, st, 5, "v1")
	want := upgrade.Desired{Version: "v2", Replicas: 5}
	steps(t, 60*time.Second, func() (upgrade.Result, error) { return u.Step(ctx, st, want) })
	if st.Phase != status.PhaseUpgrading || st.UpgradeStatus.Phase != status.UpgradePaused || st.CurrentVersion != "v1" {
		t.Fatalf("canary: %s", describeStatus(st))
	}
	ps := waitPods(t, d, 10*time.Second, "canary", func(ps []upgrade.Pod) bool { return len(ps) == 5 })
	for _, p := range ps {
		want := "v1"
		if p.Index >= 3 {
			want = "v2"
		}
		if p.Version != want || !p.Ready {
			t.Errorf("canary: slot %d at %s ready=%t, want %s", p.Index, p.Version, p.Ready, want)
		}
	}
	// Promote: partition 0.
	spec.RollingUpdate.Partition = new(int32)
	u, err = upgrade.New(d.Driver(), spec)
	if err != nil {
		t.Fatal(err)
	}
	steps(t, 60*time.Second, func() (upgrade.Result, error) { return u.Step(ctx, st, want) })
	if st.Phase != status.PhaseRunning || st.CurrentVersion != "v2" || st.UpgradeStatus.Phase != status.UpgradeCompleted {
		t.Fatalf("promoted: %s", describeStatus(st))
	}
	waitPods(t, d, 10*time.Second, "steady at v2", steady(5, "v2"))
}

func TestPodsFailedVerificationRollsBack(t *testing.T) {
	env := need(t)
	t.Parallel()
	ctx := t.Context()
	ns := namespace(t, env.Client)
	node := startKubelet(t, env, ns, 300*time.Millisecond, 200*time.Millisecond)
	f := factory(env.Client, ns)
	d := newPodsDriver(t, env.Client, f, ns, "redis", node)
	// Verification GETs each pod on its IP (the kubelet reports 127.0.0.1,
	// where the health server listens) through the driver's cache.
	port := healthServer(t, "v2")
	access := &kube.Access{Namespace: ns, Direct: true, Pods: f.Core().V1().Pods().Lister(), Port: port, Timeout: 2 * time.Second}
	start(t, ctx, f)
	verifier := verify.Func(func(ctx context.Context, tg verify.Target) error {
		code, body, err := access.Get(ctx, tg, 0, "/health/"+tg.Version)
		if err != nil {
			return err
		}
		if code != 200 {
			return &verify.FailedError{Type: verify.TypeHTTP, Reason: fmt.Sprintf("status %d: %s", code, strings.TrimSpace(string(body)))}
		}
		return nil
	})
	spec, err := upgrade.ParseSpec([]byte(`
rollingUpdate: {maxSurge: 0, maxUnavailable: 1, timeout: 30s}
postUpgradeVerify: {enabled: true, type: http, endpoint: /health, interval: 50ms, failureThreshold: 2}
rollback: {enabled: true, onFailure: true, limit: 3}
`))
	if err != nil {
		t.Fatal(err)
	}
	u, err := upgrade.New(d.Driver(), spec, upgrade.WithPostUpgradeVerifier(verifier))
	if err != nil {
		t.Fatal(err)
	}
	st := &status.Status{}
	bring(t, ctx, d, u, st, 3, "v1")
	for _, bad := range []string{"v2", "bad"} { // verification fails; image cannot be pulled
		steps(t, 60*time.Second, func() (upgrade.Result, error) {
			return u.Step(ctx, st, upgrade.Desired{Version: bad, Replicas: 3})
		})
		if st.Phase != status.PhaseRunning || st.CurrentVersion != "v1" || st.UpgradeStatus.Phase != status.UpgradeRolledBack {
			t.Fatalf("%s: %s", bad, describeStatus(st))
		}
		fs := st.UpgradeStatus.Failures
		if len(fs) == 0 || !fs[0].Recovered {
			t.Fatalf("%s: failures %+v", bad, fs)
		}
		want := map[string]string{"v2": "replication not caught up", "bad": "ImagePullBackOff"}[bad]
		if !strings.Contains(fs[0].Error, want) {
			t.Errorf("%s: failure %q does not say %q", bad, fs[0].Error, want)
		}
		waitPods(t, d, 10*time.Second, "steady at v1", steady(3, "v1"))
	}
	if st.RollbackCount != 2 {
		t.Errorf("rollbackCount = %d", st.RollbackCount)
	}
}

// TestPodsConformance runs the driver authors' suite against the real API
// server.
func TestPodsConformance(t *testing.T) {
	env := need(t)
	t.Parallel()
	ctx := t.Context()
	ns := namespace(t, env.Client)
	node := startKubelet(t, env, ns, 100*time.Millisecond, 100*time.Millisecond)
	f := factory(env.Client, ns)
	d := newPodsDriver(t, env.Client, f, ns, "redis", node)
	start(t, ctx, f)
	for i := range int32(3) {
		if err := d.Create(ctx, i, "v1", false); err != nil {
			t.Fatal(err)
		}
	}
	upgradetest.TestPodDriver(t, d.Driver(), upgradetest.Harness{
		Replicas: 3, Version: "v1", NewVersion: "v2",
		Advance:  func() { time.Sleep(20 * time.Millisecond) },
		Attempts: 1000,
	})
}

// TestPodsDeletePreconditionsOnServer checks, on the real API server, that
// a stale incarnation is never deleted and a changed pod is refused.
func TestPodsDeletePreconditionsOnServer(t *testing.T) {
	env := need(t)
	t.Parallel()
	ctx := t.Context()
	ns := namespace(t, env.Client)
	node := startKubelet(t, env, ns, 50*time.Millisecond, 50*time.Millisecond)
	f := factory(env.Client, ns)
	d := newPodsDriver(t, env.Client, f, ns, "redis", node)
	start(t, ctx, f)
	if err := d.Create(ctx, 0, "v1", false); err != nil {
		t.Fatal(err)
	}
	old := waitPods(t, d, 10*time.Second, "pod ready", steady(1, "v1"))[0]
	// Someone else replaces the pod under the same name.
	zero := int64(0)
	if err := env.Client.CoreV1().Pods(ns).Delete(ctx, old.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	waitPods(t, d, 10*time.Second, "pod gone", func(ps []upgrade.Pod) bool { return len(ps) == 0 })
	if err := d.Create(ctx, 0, "v1", false); err != nil {
		t.Fatal(err)
	}
	newer := waitPods(t, d, 10*time.Second, "new pod ready", steady(1, "v1"))[0]
	if newer.UID == old.UID {
		t.Fatal("same UID")
	}
	if err := d.Delete(ctx, old); err != nil {
		t.Fatalf("delete of the old incarnation: %v", err)
	}
	p, err := env.Client.CoreV1().Pods(ns).Get(ctx, "redis-0", metav1.GetOptions{})
	if err != nil || string(p.UID) != newer.UID || p.DeletionTimestamp != nil {
		t.Fatalf("the newer incarnation was touched: %v %+v", err, p.ObjectMeta)
	}
}

// TestPodsAllRequestsAreCounted checks the API cost of the driver on the
// real server: Pods makes no request after sync; Create and Delete one
// write each.
func TestPodsAllRequestsAreCounted(t *testing.T) {
	env := need(t)
	t.Parallel()
	ctx := t.Context()
	ns := namespace(t, env.Client)
	node := startKubelet(t, env, ns, 50*time.Millisecond, 50*time.Millisecond)
	var rc kube.RequestCounter
	client := mustClient(t, rc.WrapConfig(env.Config))
	f := factory(client, ns)
	d := newPodsDriver(t, client, f, ns, "redis", node)
	start(t, ctx, f)
	before := rc.Counts()
	if before.Lists != 1 || before.Watches < 1 {
		t.Logf("sync cost: %v", before)
	}
	for range 50 {
		if _, err := d.Pods(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Create(ctx, 0, "v1", false); err != nil {
		t.Fatal(err)
	}
	p := waitPods(t, d, 10*time.Second, "ready", steady(1, "v1"))[0]
	if err := d.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	got := rc.Counts().Sub(before)
	if got.Reads != 0 || got.Writes != 2 || got.ByVerb["create pods"] != 1 || got.ByVerb["delete pods"] != 1 {
		t.Fatalf("requests after sync: %v", got)
	}
}
