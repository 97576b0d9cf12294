package main

import (
	"strings"
	"testing"
)

// TestCanaryStory: the demo tells the whole story: canary, pause, promote,
// a failed verification rolled back, and the final status.
func TestCanaryStory(t *testing.T) {
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"dry run: upgrade 7.4 -> 7.4.1",
		"UpgradePaused",
		"phase Upgrading / Paused",
		"UpgradeCompleted",
		"phase Running / Completed, currentVersion 7.4.1",
		"PodFailed",
		"RollbackStarted",
		"RollbackCompleted",
		"phase Running / RolledBack, currentVersion 7.4.1, rollbackCount 1",
		"phase: RolledBack",
		"recovered: true",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(s, "=7.4.2") {
		t.Errorf("a pod runs 7.4.2 after the rollback:\n%s", s)
	}
	if n := strings.Count(s, "PodUpgraded"); n != 8 {
		t.Errorf("PodUpgraded %d times, want 8 (1 canary + 4 promoted + 1 upgraded + 2 rolled back)", n)
	}
}
