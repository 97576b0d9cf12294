package kubeenv

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rollgate/rollgate/internal/testenv"
)

// TestStartStop starts the control plane, reads /version and stops it.
func TestStartStop(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir, skip, err := Find(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if skip != "" {
		testenv.Unavailable(t, skip)
	}
	logs := t.TempDir()
	start := time.Now()
	env, err := Start(t.Context(), dir, Options{Dir: logs, ControllerManager: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started in %s", time.Since(start))
	defer func() {
		stop := time.Now()
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
		t.Logf("stopped in %s", time.Since(stop))
	}()
	v, err := env.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion == "" || v.GitVersion == "v0.0.0-master+$Format:%H$" {
		t.Errorf("version %q", v.GitVersion)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := env.Client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("namespace default: %v", err)
	}
}
