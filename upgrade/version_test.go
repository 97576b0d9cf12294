package upgrade

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestVersionPolicy(t *testing.T) {
	var _ Precheck = VersionPolicy{} // VersionPolicy must satisfy Precheck
	for _, tc := range []struct {
		name     string
		policy   VersionPolicy
		from, to string
		errHas   []string // empty: allowed
	}{
		{name: "minor upgrade", from: "7.2", to: "7.4"},
		{name: "patch upgrade", from: "7.4.1", to: "7.4.2"},
		{name: "next major", from: "7.4", to: "8.0"},
		{name: "same version", from: "7.4", to: "7.4"},
		{name: "equal with missing zero", from: "7.4", to: "7.4.0"},
		{name: "equal with v prefix", from: "v1.2.3", to: "1.2.3"},
		{name: "numeric not lexical", from: "7.9", to: "7.10"},
		{name: "leading zeros", from: "7.09", to: "7.10"},
		{name: "downgrade refused", from: "7.4", to: "7.2", errHas: []string{"downgrade", `"7.4"`, `"7.2"`, "AllowDowngrade"}},
		{name: "numeric downgrade refused", from: "7.10", to: "7.9", errHas: []string{"downgrade"}},
		{name: "downgrade allowed", policy: VersionPolicy{AllowDowngrade: true}, from: "7.4", to: "7.2"},
		{name: "major skip refused", from: "7.4", to: "9.0", errHas: []string{`"7.4"`, `"9.0"`, "skips major version 8", "AllowMajorSkip"}},
		{name: "several majors skipped", from: "6", to: "10.1", errHas: []string{"skips major versions 7 to 9"}},
		{name: "major skip allowed", policy: VersionPolicy{AllowMajorSkip: true}, from: "7.4", to: "9.0"},
		{name: "downgrade skipping a major needs both", policy: VersionPolicy{AllowDowngrade: true}, from: "9.0", to: "7.4", errHas: []string{"skips major version 8"}},
		{name: "downgrade skipping a major with both", policy: VersionPolicy{AllowDowngrade: true, AllowMajorSkip: true}, from: "9.0", to: "7.4"},
		{name: "Debian revisions", from: "7.0.15-1~deb12u9", to: "7.0.15-1~deb12u10"},
		{name: "Debian revision downgrade", from: "7.0.15-1~deb12u10", to: "7.0.15-1~deb12u9", errHas: []string{"downgrade"}},
		{name: "Debian backport before the release", from: "7.0.15-1~deb12u1", to: "7.0.15-1"},
		{name: "Debian revision after upstream", from: "7.0.15", to: "7.0.15-1"},
		{name: "Debian to next upstream", from: "7.0.15-1~deb12u10", to: "7.2.4-1"},
		{name: "Debian epoch wins", from: "1:9.0", to: "2:1.0"},
		{name: "Debian epoch downgrade", from: "2:1.0", to: "1:9.0", errHas: []string{"downgrade"}},
		{name: "pre-release before release", from: "8.0.0-rc.1", to: "8.0.0"},
		{name: "release to its pre-release is a downgrade", from: "8.0.0", to: "8.0.0-rc.1", errHas: []string{"downgrade"}},
		{name: "pre-releases numerically", from: "8.0.0-rc.2", to: "8.0.0-rc.10"},
		{name: "tilde pre-release", from: "8.0~rc1", to: "8.0"},
		{name: "build suffix after release", from: "7.4", to: "7.4+build.2"},
		{name: "surrounding space", from: " 7.4 ", to: "7.4.1\n"},
		{name: "unparsable current", from: "latest", to: "7.4", errHas: []string{"current version", `"latest"`, `"7.4"`}},
		{name: "unparsable target", from: "7.4", to: "banana", errHas: []string{"target version", `"banana"`, `"7.4"`}},
		{name: "empty current", from: "", to: "7.4", errHas: []string{"current version", "empty version"}},
		{name: "empty target", from: "7.4", to: " ", errHas: []string{"target version", "empty version"}},
		{name: "only v", from: "v", to: "7.4", errHas: []string{"current version"}},
		{name: "huge major", from: "99999999999999999999999", to: "7.4", errHas: []string{"too large"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Check(context.Background(), tc.from, tc.to)
			if len(tc.errHas) == 0 {
				if err != nil {
					t.Fatalf("Check(%q, %q) = %v, want allowed", tc.from, tc.to, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check(%q, %q) allowed, want an error containing %q", tc.from, tc.to, tc.errHas)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestVersionPolicyContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (VersionPolicy{}).Check(ctx, "7.2", "7.4"); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: got %v, want context.Canceled", err)
	}
}

func TestCompareParsedVersionsOrder(t *testing.T) {
	// Each version is strictly older than the next.
	ordered := []string{
		"1.0~rc1", "1.0-rc.1", "1.0-rc.2", "1.0-rc.10", "1.0", "1.0-1~deb12u1", "1.0-1", "1.0-1+b1", "1.0-2",
		"1.0.1", "1.2", "1.10", "2", "2.0.1", "1:0.1",
	}
	for i := 0; i+1 < len(ordered); i++ {
		a, err := parseVersionLenient(ordered[i])
		if err != nil {
			t.Fatal(err)
		}
		b, err := parseVersionLenient(ordered[i+1])
		if err != nil {
			t.Fatal(err)
		}
		if c := compareParsedVersions(a, b); c != -1 {
			t.Errorf("compare(%q, %q) = %d, want -1", ordered[i], ordered[i+1], c)
		}
		if c := compareParsedVersions(b, a); c != 1 {
			t.Errorf("compare(%q, %q) = %d, want 1", ordered[i+1], ordered[i], c)
		}
		if c := compareParsedVersions(a, a); c != 0 {
			t.Errorf("compare(%q, itself) = %d, want 0", ordered[i], c)
		}
	}
}
