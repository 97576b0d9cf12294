package testenv

import (
	"testing"
)

func TestNeedFindsShell(t *testing.T) {
	paths := Need(t, "sh")
	if len(paths) != 1 || paths[0] == "" {
		t.Fatalf("Need(sh) = %q, want one path", paths)
	}
}

func TestInCI(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want bool
	}{
		{"true", true}, {"TRUE", true}, {"1", true}, {"", false}, {"false", false}, {"no", false},
	} {
		t.Setenv("CI", tc.val)
		if got := InCI(); got != tc.want {
			t.Errorf("CI=%q: InCI() = %v, want %v", tc.val, got, tc.want)
		}
	}
}

// recorder captures what Need does to a test without stopping the real one.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = format
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skip = format
}

func TestNeedMissing(t *testing.T) {
	const bin = "rollgate-no-such-binary-for-testenv"
	for _, tc := range []struct {
		ci        string
		wantFatal bool
	}{
		{"true", true},
		{"", false},
	} {
		t.Setenv("CI", tc.ci)
		r := &recorder{TB: t}
		Need(r, "sh", bin)
		if tc.wantFatal && r.fatal == "" {
			t.Errorf("CI=%q: missing binary did not fail the test", tc.ci)
		}
		if !tc.wantFatal && (r.skip == "" || r.fatal != "") {
			t.Errorf("CI=%q: missing binary: skip=%q fatal=%q, want a skip", tc.ci, r.skip, r.fatal)
		}
	}
}
