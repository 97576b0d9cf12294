package upgrade

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"pgregory.net/rapid"

	"github.com/rollgate/rollgate/status"
)

// TestCopyStatus: copyStatus is a deep copy equal to DeepCopy, and
// PodProgress holds no reference but LastAttempt (a new pointer, slice or
// map field must be copied in copyStatus too).
func TestCopyStatus(t *testing.T) {
	typ := reflect.TypeFor[status.PodProgress]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		switch f.Type.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func:
			if f.Name != "LastAttempt" {
				t.Errorf("status.PodProgress.%s is a %s: copyStatus must deep-copy it", f.Name, f.Type.Kind())
			}
		}
	}
	now := metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	idx := int32(1)
	st := &status.Status{
		Phase: status.PhaseUpgrading, CurrentVersion: "v1",
		Conditions: []metav1.Condition{{Type: "Available", Status: metav1.ConditionTrue, LastTransitionTime: now}},
		UpgradeStatus: &status.UpgradeStatus{
			Phase: status.UpgradeInProgress, StartedAt: &now, CurrentIndex: &idx,
			Failures: []status.Failure{{Index: 1, Error: "x", Timestamp: now}},
			Pods: []status.PodProgress{
				{Index: 0, Stage: status.StageDone, NewUID: "a"},
				{Index: 1, Stage: status.StageVerifying, LastAttempt: &now, Message: "m"},
			},
		},
	}
	for _, in := range []*status.Status{st, {}, {UpgradeStatus: &status.UpgradeStatus{}}} {
		got := copyStatus(in)
		if !reflect.DeepEqual(got, in.DeepCopy()) {
			t.Fatalf("copyStatus = %+v, want %+v", got, in.DeepCopy())
		}
	}
	got := copyStatus(st)
	if got.UpgradeStatus == st.UpgradeStatus || got.UpgradeStatus.StartedAt == st.UpgradeStatus.StartedAt ||
		&got.Conditions[0] == &st.Conditions[0] || &got.UpgradeStatus.Failures[0] == &st.UpgradeStatus.Failures[0] {
		t.Fatal("copyStatus shares more than the entries with its input")
	}
	if &got.UpgradeStatus.Pods[0] != &st.UpgradeStatus.Pods[0] {
		t.Fatal("copyStatus copied the entries; they are copied on the first write")
	}
	c := cloneEntries(st.UpgradeStatus.Pods)
	if !reflect.DeepEqual(c, st.DeepCopy().UpgradeStatus.Pods) || &c[0] == &st.UpgradeStatus.Pods[0] ||
		c[1].LastAttempt == st.UpgradeStatus.Pods[1].LastAttempt {
		t.Fatal("cloneEntries is not a deep copy")
	}
}

// TestValidatePodsMemo: the errors name the pod as before, and a list
// validated once and then changed is validated again.
func TestValidatePodsMemo(t *testing.T) {
	pods := func(names ...string) []Pod {
		var out []Pod
		for i, n := range names {
			out = append(out, Pod{Index: int32(i % 3), Name: n, Version: "v1", UID: "uid-" + n})
		}
		return out
	}
	var set podSet
	good := pods("a", "b", "c", "d")
	for range 2 {
		if err := validatePods(&set, good, 3); err != nil {
			t.Fatal(err)
		}
		if set.uid("uid-c") != 2 || set.uid("uid-x") != -1 {
			t.Fatalf("uid lookups: %d %d", set.uid("uid-c"), set.uid("uid-x"))
		}
	}
	dupName := pods("a", "b", "c", "b")
	dupName[3].UID = "uid-other"
	dupUID := pods("a", "b", "c", "e")
	dupUID[3].UID = "uid-a"
	for _, tc := range []struct {
		pods []Pod
		want string
	}{
		{dupName, "upgrade: pod b: listed twice"},
		{dupUID, "upgrade: pod e: UID uid-a is also pod a's"},
		{good[:0:0], ""},
		{append(pods("a", "b"), Pod{Index: 5, Name: "z", Version: "v1", UID: "uid-z"}), "upgrade: pod z: index 5 is outside the group's 3 replicas (scaling is not the Upgrader's job)"},
		{good, ""},
		{good, ""},
	} {
		err := validatePods(&set, tc.pods, 3)
		if got := fmt.Sprint(err); (tc.want == "" && err != nil) || (tc.want != "" && got != tc.want) {
			t.Errorf("validatePods(%d pods) = %v, want %q", len(tc.pods), err, tc.want)
		}
	}
	// The memo keeps the simple checks.
	bad := pods("a", "b", "c", "d")
	bad[2].Version = ""
	if err := validatePods(&set, bad, 3); err == nil || err.Error() != "upgrade: pod c: driver gave no version" {
		t.Errorf("same names, no version: %v", err)
	}
}

// TestMarkRetired: the retired pods are found through the set, again
// when the pod list or the retired list changes.
func TestMarkRetired(t *testing.T) {
	var set podSet
	mk := func(uids ...string) []Pod {
		var out []Pod
		for i, u := range uids {
			out = append(out, Pod{Index: int32(i), Name: "p" + u, Version: "v1", UID: u, Ready: true})
		}
		return out
	}
	check := func(pods []Pod, retired []string, want ...string) {
		t.Helper()
		if err := validatePods(&set, pods, int32(len(pods))); err != nil {
			t.Fatal(err)
		}
		got := markRetired(pods, retired, &set)
		var marked []string
		for _, p := range got {
			if p.Terminating {
				marked = append(marked, p.UID)
			}
		}
		if fmt.Sprint(marked) != fmt.Sprint(want) {
			t.Errorf("pods %v retired %v: marked %v, want %v", len(pods), retired, marked, want)
		}
		for _, p := range pods {
			if p.Terminating {
				t.Fatal("markRetired changed its input")
			}
		}
	}
	a := mk("a", "b", "c")
	check(a, []string{"b", "x"}, "b")
	check(a, []string{"b", "x"}, "b")      // memo
	check(a, []string{"b", "c"}, "b", "c") // retired changed
	check(mk("c", "b", "a"), []string{"b", "c"}, "c", "b")
	check(mk("d", "e"), []string{"b", "c"})
}

// TestSmallest: smallest gives the k first under the order, in order,
// whether it selects with its heap or sorts.
func TestSmallest(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		xs := rapid.SliceOf(rapid.Int32Range(0, 50)).Draw(t, "xs")
		k := rapid.IntRange(-1, len(xs)+2).Draw(t, "k")
		desc := rapid.Bool().Draw(t, "descending")
		cmp := func(a, b int32) int {
			if desc {
				a, b = b, a
			}
			return int(a) - int(b)
		}
		want := slices.SortedFunc(slices.Values(xs), cmp)
		want = want[:max(0, min(k, len(want)))]
		var buf []int32
		got := smallest(slices.Clone(xs), k, cmp, &buf)
		if !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Fatalf("smallest(%v, %d) = %v, want %v", xs, k, got, want)
		}
	})
}
