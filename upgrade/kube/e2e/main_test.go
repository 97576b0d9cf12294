package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rollgate/rollgate/internal/kubeenv"
	"github.com/rollgate/rollgate/internal/testenv"
	"github.com/rollgate/rollgate/upgrade/kube"
)

// shared is the control plane of the package's tests, started once.
type shared struct {
	env  *kubeenv.Env
	skip string
	seq  atomic.Int32
	kcm  kube.RequestCounter // the controller manager's API requests
}

var plane shared

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if testing.Short() {
		plane.skip = "-short: no control plane"
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	dir, skip, err := kubeenv.Find(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if skip != "" {
		plane.skip = skip
		return m.Run()
	}
	start := time.Now()
	env, err := kubeenv.Start(context.Background(), dir, kubeenv.Options{ControllerManager: true, ObserveControllerManager: plane.kcm.Observe})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting the control plane:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: control plane up in %s\n", time.Since(start).Round(time.Millisecond))
	plane.env = env
	code := m.Run()
	stop := time.Now()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping the control plane:", err)
	}
	fmt.Fprintf(os.Stderr, "e2e: control plane stopped in %s\n", time.Since(stop).Round(time.Millisecond))
	return code
}

// need returns the shared control plane or stops the test (skip, or fail
// under CI=true).
func need(t testing.TB) *kubeenv.Env {
	t.Helper()
	if plane.env == nil {
		testenv.Unavailable(t, plane.skip)
	}
	return plane.env
}

// namespace creates a fresh namespace for the test and returns its name.
func namespace(t testing.TB, client kubernetes.Interface) string {
	t.Helper()
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	name := fmt.Sprintf("t%d-%s", plane.seq.Add(1), b.String())
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.TrimRight(name, "-")
	_, err := client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return name
}
