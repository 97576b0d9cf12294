package status_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/rollgate/rollgate/status"
)

func ptr[T any](v T) *T { return &v }

func mtime(s string) metav1.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return metav1.NewTime(t)
}

// sample returns a Status with every slice and pointer set; each call
// returns a fresh value equal to the previous ones.
func sample() *status.Status {
	started := mtime("2025-01-19T10:00:00Z")
	completed := mtime("2025-01-19T10:30:00Z")
	return &status.Status{
		Phase:          status.PhaseUpgrading,
		CurrentVersion: "7.4",
		TargetVersion:  "7.4.1",
		RollbackCount:  1,
		UpgradeStatus: &status.UpgradeStatus{
			Phase:           status.UpgradeInProgress,
			FromVersion:     "7.4",
			ToVersion:       "7.4.1",
			StartedAt:       &started,
			CompletedAt:     &completed,
			UpdatedReplicas: 2,
			TotalReplicas:   4,
			CurrentIndex:    ptr(int32(2)),
			Failures: []status.Failure{{
				Index:     1,
				Error:     "image pull failed",
				Timestamp: mtime("2025-01-19T10:05:00Z"),
				Recovered: true,
				Reason:    "PodFailed",
			}},
			Partition:      1,
			RollbackReason: "pod 1 failed",
			Message:        "waiting for pod 2",
			Pods: []status.PodProgress{{
				Index:   2,
				Stage:   status.StageWaitingReady,
				Since:   mtime("2025-01-19T10:03:00Z"),
				Version: "7.4.1",
				Surge:   true,
				OldUID:  "old",
				NewUID:  "new",
				Passes:  1,
				Message: "not ready",
			}},
		},
		Conditions: []metav1.Condition{{
			Type:               status.ConditionProgressing,
			Status:             metav1.ConditionTrue,
			ObservedGeneration: 3,
			LastTransitionTime: mtime("2025-01-19T10:00:00Z"),
			Reason:             "Upgrading",
			Message:            "upgrading 7.4 to 7.4.1",
		}},
	}
}

// dump renders v as JSON for failure messages (pointers as their values).
func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

func TestDeepCopyIsDeep(t *testing.T) {
	orig := sample()
	cp := orig.DeepCopy()
	if !reflect.DeepEqual(orig, cp) {
		t.Fatalf("DeepCopy differs from the original:\n%s\n%s", dump(orig), dump(cp))
	}

	// Mutate everything the copy reaches through a pointer or a slice.
	cp.Conditions[0].Message = "changed"
	cp.Conditions[0].LastTransitionTime = mtime("2030-01-01T00:00:00Z")
	cp.Conditions = append(cp.Conditions, metav1.Condition{Type: "Extra"})
	us := cp.UpgradeStatus
	us.Phase = status.UpgradeFailed
	us.Failures[0].Error = "changed"
	us.Failures[0].Recovered = false
	us.Failures[0].Timestamp = mtime("2030-01-01T00:00:00Z")
	us.Failures = append(us.Failures, status.Failure{Index: 9})
	us.Pods[0].Stage = status.StageFailed
	us.Pods[0].Message = "changed"
	us.Pods[0].Since = mtime("2030-01-01T00:00:00Z")
	us.Pods = append(us.Pods, status.PodProgress{Index: 9})
	*us.CurrentIndex = 99
	us.StartedAt.Time = time.Unix(0, 0)
	us.CompletedAt.Time = time.Unix(0, 0)

	if want := sample(); !reflect.DeepEqual(orig, want) {
		t.Fatalf("mutating the copy changed the original:\n got %s\nwant %s", dump(orig), dump(want))
	}

	// And the other way round: the copy does not see later changes to the original.
	cp2 := orig.DeepCopy()
	orig.UpgradeStatus.Failures[0].Index = 42
	*orig.UpgradeStatus.CurrentIndex = 42
	orig.Conditions[0].Reason = "Other"
	if want := sample(); !reflect.DeepEqual(cp2, want) {
		t.Fatalf("mutating the original changed the copy:\n got %s\nwant %s", dump(cp2), dump(want))
	}
}

func TestDeepCopyNilAndEmpty(t *testing.T) {
	var s *status.Status
	if s.DeepCopy() != nil {
		t.Error("(*Status)(nil).DeepCopy() != nil")
	}
	var u *status.UpgradeStatus
	if u.DeepCopy() != nil {
		t.Error("(*UpgradeStatus)(nil).DeepCopy() != nil")
	}
	empty := &status.Status{}
	if got := empty.DeepCopy(); !reflect.DeepEqual(got, empty) || got == empty {
		t.Errorf("DeepCopy of an empty Status = %+v", got)
	}
	// DeepCopyInto overwrites what the target held.
	dst := sample()
	empty.DeepCopyInto(dst)
	if !reflect.DeepEqual(dst, empty) {
		t.Errorf("DeepCopyInto left old contents: %+v", dst)
	}
}

// TestDeepCopySharesNothing fills every exported field of Status by
// reflection (so fields added later are covered without touching this test)
// and checks that the copy is equal and shares no pointer, slice or map with
// the original.
func TestDeepCopySharesNothing(t *testing.T) {
	orig := &status.Status{}
	n := 0
	fill(reflect.ValueOf(orig).Elem(), &n)
	cp := orig.DeepCopy()
	if !reflect.DeepEqual(orig, cp) {
		t.Fatalf("DeepCopy differs from the original:\n%s\n%s", dump(orig), dump(cp))
	}
	noAlias(t, "Status", reflect.ValueOf(orig).Elem(), reflect.ValueOf(cp).Elem())

	// The same holds for the nested types' own DeepCopy methods.
	us := orig.UpgradeStatus.DeepCopy()
	noAlias(t, "UpgradeStatus", reflect.ValueOf(orig.UpgradeStatus).Elem(), reflect.ValueOf(us).Elem())
	pp := orig.UpgradeStatus.Pods[0].DeepCopy()
	noAlias(t, "PodProgress", reflect.ValueOf(&orig.UpgradeStatus.Pods[0]).Elem(), reflect.ValueOf(pp).Elem())
	f := orig.UpgradeStatus.Failures[0].DeepCopy()
	if !reflect.DeepEqual(*f, orig.UpgradeStatus.Failures[0]) {
		t.Errorf("Failure.DeepCopy = %+v", f)
	}
}

var timeType = reflect.TypeOf(time.Time{})

// fill sets every exported field reachable from v to a distinct non-zero value.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i), n)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k := reflect.New(v.Type().Key()).Elem()
		e := reflect.New(v.Type().Elem()).Elem()
		fill(k, n)
		fill(e, n)
		v.SetMapIndex(k, e)
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(time.Unix(int64(1700000000+*n), 0).UTC()))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	default:
		panic("fill: unhandled kind " + v.Kind().String() + " at " + v.Type().String())
	}
}

// noAlias fails when a and b (of the same type) share a pointer, slice
// backing array or map anywhere below them.
func noAlias(t *testing.T, path string, a, b reflect.Value) {
	t.Helper()
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				t.Errorf("%s: nil in one value only", path)
			}
			return
		}
		if a.Pointer() == b.Pointer() {
			t.Errorf("%s: the copy shares the pointer", path)
			return
		}
		noAlias(t, path, a.Elem(), b.Elem())
	case reflect.Slice:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			t.Errorf("%s: the copy shares the slice's array", path)
			return
		}
		for i := 0; i < a.Len() && i < b.Len(); i++ {
			noAlias(t, fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i))
		}
	case reflect.Map:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			t.Errorf("%s: the copy shares the map", path)
		}
	case reflect.Struct:
		if a.Type() == timeType {
			return // immutable value; its *Location may be shared
		}
		for i := 0; i < a.NumField(); i++ {
			if a.Type().Field(i).IsExported() {
				noAlias(t, path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
			}
		}
	}
}

type doc struct {
	Status status.Status `json:"status"`
}

// TestDesignExample parses the design's section 8.1 example (copied verbatim
// into testdata) and checks every value, then that the Status marshals back
// to JSON with the design's field names and nothing more.
func TestDesignExample(t *testing.T) {
	data, err := os.ReadFile("testdata/design-8.1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d doc
	if err := yaml.UnmarshalStrict(data, &d); err != nil {
		t.Fatalf("design 8.1 example does not parse strictly: %v", err)
	}
	s := d.Status
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	check("phase", s.Phase, status.PhaseUpgrading)
	check("currentVersion", s.CurrentVersion, "7.4")
	check("targetVersion", s.TargetVersion, "7.4.1")
	check("rollbackCount", s.RollbackCount, int32(0))
	check("conditions", len(s.Conditions), 0)
	us := s.UpgradeStatus
	if us == nil {
		t.Fatal("upgradeStatus: nil")
	}
	check("upgradeStatus.phase", us.Phase, status.UpgradeInProgress)
	check("upgradeStatus.fromVersion", us.FromVersion, "7.4")
	check("upgradeStatus.toVersion", us.ToVersion, "7.4.1")
	if us.StartedAt == nil || !us.StartedAt.Time.Equal(time.Date(2025, 1, 19, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("upgradeStatus.startedAt = %v", us.StartedAt)
	}
	if us.CompletedAt != nil {
		t.Errorf("upgradeStatus.completedAt = %v, want nil", us.CompletedAt)
	}
	check("upgradeStatus.updatedReplicas", us.UpdatedReplicas, int32(2))
	check("upgradeStatus.totalReplicas", us.TotalReplicas, int32(4))
	check("upgradeStatus.currentIndex", us.CurrentIndex, ptr(int32(2)))
	if len(us.Failures) != 1 {
		t.Fatalf("upgradeStatus.failures = %+v, want one", us.Failures)
	}
	f := us.Failures[0]
	check("failures[0].index", f.Index, int32(1))
	check("failures[0].error", f.Error, "镜像拉取失败")
	if !f.Timestamp.Time.Equal(time.Date(2025, 1, 19, 10, 5, 0, 0, time.UTC)) {
		t.Errorf("failures[0].timestamp = %v", f.Timestamp)
	}
	check("failures[0].recovered", f.Recovered, true)

	// Marshal back: the JSON carries exactly the design's fields, under its
	// names, with completedAt present and null.
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	designJSON, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(designJSON, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("marshalled status differs from the design's:\n got %s\nwant %s", out, designJSON)
	}
	ups := got["status"].(map[string]any)["upgradeStatus"].(map[string]any)
	if v, ok := ups["completedAt"]; !ok || v != nil {
		t.Errorf("upgradeStatus.completedAt = %v (present %v), want null", v, ok)
	}
	for _, k := range []string{"phase", "fromVersion", "toVersion", "startedAt", "completedAt",
		"updatedReplicas", "totalReplicas", "currentIndex", "failures"} {
		if _, ok := ups[k]; !ok {
			t.Errorf("upgradeStatus.%s missing from %s", k, out)
		}
	}
	fail := ups["failures"].([]any)[0].(map[string]any)
	for _, k := range []string{"index", "error", "timestamp", "recovered"} {
		if _, ok := fail[k]; !ok {
			t.Errorf("upgradeStatus.failures[0].%s missing from %s", k, out)
		}
	}

	// And the JSON reads back to the same Status.
	var back doc
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(back, d) {
		t.Errorf("JSON round trip changed the status:\n got %s\nwant %s", dump(back), dump(d))
	}
}

// TestJSONRoundTrip round-trips a Status with every field set.
func TestJSONRoundTrip(t *testing.T) {
	in := sample()
	out, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var back status.Status
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	// metav1.Time unmarshals into time.Local: compare instants, not locations.
	if !equality.Semantic.DeepEqual(&back, in) {
		t.Errorf("round trip:\n got %s\nwant %s", dump(&back), dump(in))
	}
	for _, want := range []string{`"completedAt":"2025-01-19T10:30:00Z"`, `"startedAt":"2025-01-19T10:00:00Z"`, `"currentIndex":2`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("%s missing from %s", want, out)
		}
	}
}

func TestZeroValuesJSON(t *testing.T) {
	out, err := json.Marshal(status.Status{})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "{}" {
		t.Errorf("empty Status = %s, want {}", out)
	}
	out, err = json.Marshal(status.UpgradeStatus{})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if v, ok := m["completedAt"]; !ok || v != nil {
		t.Errorf("unset completedAt = %v (present %v), want null: %s", v, ok, out)
	}
	for _, k := range []string{"startedAt", "currentIndex", "failures"} {
		if _, ok := m[k]; ok {
			t.Errorf("unset %s is present: %s", k, out)
		}
	}
}

func TestPinnedValues(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{string(status.PhaseRunning), "Running"},
		{string(status.PhaseUpgrading), "Upgrading"},
		{string(status.PhaseRollingBack), "RollingBack"},
		{string(status.PhaseFailed), "Failed"},
		{string(status.UpgradeInProgress), "InProgress"},
		{string(status.UpgradePaused), "Paused"},
		{string(status.UpgradeCompleted), "Completed"},
		{string(status.UpgradeRollingBack), "RollingBack"},
		{string(status.UpgradeRolledBack), "RolledBack"},
		{string(status.UpgradeFailed), "Failed"},
	} {
		if c.got != c.want {
			t.Errorf("constant = %q, want %q", c.got, c.want)
		}
	}
}
