// Package testenv decides what a test does when something it needs from the
// machine is missing: under CI (environment variable CI=true) it fails, so a
// CI run can never go green by skipping the tests that matter; anywhere else
// it skips with the reason, so a developer without the tools can still run
// the rest.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// InCI reports whether the environment variable CI is "true" (any case, or
// "1"), as CI systems set it.
func InCI() bool {
	v := strings.TrimSpace(os.Getenv("CI"))
	return strings.EqualFold(v, "true") || v == "1"
}

// Need looks up each binary on PATH and returns their paths, in order. If
// any is missing it stops the test: t.Fatal under CI (see InCI), t.Skip
// otherwise; the message names every missing binary. Need must be called
// from the goroutine running the test.
func Need(t testing.TB, binaries ...string) []string {
	t.Helper()
	paths := make([]string, len(binaries))
	var missing []string
	for i, b := range binaries {
		p, err := exec.LookPath(b)
		if err != nil {
			missing = append(missing, b)
			continue
		}
		paths[i] = p
	}
	if len(missing) > 0 {
		Unavailable(t, "missing on PATH: "+strings.Join(missing, ", ")+" (the hack/ensure-*.sh scripts install what tests need)")
	}
	return paths
}

// Unavailable stops the test because something it needs is not there:
// t.Fatal under CI, t.Skip otherwise. reason says what is missing.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("required under CI=true: %s", reason)
	}
	t.Skipf("skipped: %s", reason)
}
