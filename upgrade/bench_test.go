package upgrade_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
)

// The engine's cost per Step and per Plan, in the middle of an upgrade and
// when idle, at 10 to 10,000 pods. Run with
//
//	go test -run='^$' -bench='Step|Plan' -benchmem ./upgrade
//
// Besides ns/op and allocs/op each benchmark reports ns/pod and allocs/pod.

var benchSizes = []int32{10, 100, 1000, 10000}

// staticDriver lists a prebuilt slice of pods without allocating, so that
// the benchmarks measure the engine rather than a fake; it refuses writes
// (a benchmarked Step must not write, or the state would move on).
type staticDriver struct {
	pods   []upgrade.Pod
	writes int
}

func (d *staticDriver) Pods(context.Context) ([]upgrade.Pod, error) { return d.pods, nil }

func (d *staticDriver) Create(context.Context, int32, string, bool) error {
	d.writes++
	return fmt.Errorf("static driver: no writes")
}

func (d *staticDriver) Delete(context.Context, upgrade.Pod) error {
	d.writes++
	return fmt.Errorf("static driver: no writes")
}

var benchT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// midUpgrade builds a group of n slots upgrading v1 -> v2 with maxSurge
// 10%: the first half done (one verified surge pod each, the old pod
// gone and remembered in Retired), the next window of maxSurge slots in flight (a surge pod at v2
// waiting for Ready beside the ready old pod), the rest waiting for
// budget. Every Step in this state observes every pod, decides, and writes
// nothing: the steady cost of a Step while pods start.
func midUpgrade(n int32) (*staticDriver, upgrade.Spec, status.Status) {
	surge := intstr.FromString("10%")
	unav := intstr.FromInt32(0)
	spec := upgrade.Spec{RollingUpdate: upgrade.RollingUpdate{MaxSurge: &surge, MaxUnavailable: &unav}}
	spec.Default()
	window, _ := spec.Budget(n)
	started := metav1.NewTime(benchT0.Add(-time.Hour))
	st := status.Status{
		Phase: status.PhaseUpgrading, CurrentVersion: "v1", TargetVersion: "v2",
		UpgradeStatus: &status.UpgradeStatus{
			Phase: status.UpgradeInProgress, FromVersion: "v1", ToVersion: "v2",
			StartedAt: &started, TotalReplicas: n,
		},
	}
	us := st.UpgradeStatus
	d := &staticDriver{}
	uid := 0
	newPod := func(i int32, name, version string, ready bool, created time.Time) upgrade.Pod {
		uid++
		return upgrade.Pod{Index: i, Name: name, Version: version, Ready: ready, Created: created, UID: fmt.Sprintf("uid-%d", uid)}
	}
	for i := range n {
		old := newPod(i, fmt.Sprintf("redis-%d", i), "v1", true, benchT0.Add(-48*time.Hour))
		switch {
		case i < n/2:
			p := newPod(i, fmt.Sprintf("redis-%d-surge-1", i), "v2", true, benchT0.Add(-30*time.Minute))
			d.pods = append(d.pods, p)
			us.Retired = append(us.Retired, old.UID) // the Upgrader stopped it
			us.Pods = append(us.Pods, status.PodProgress{Index: i, Stage: status.StageDone, Since: metav1.NewTime(benchT0.Add(-20 * time.Minute)), Version: "v2", Surge: true, OldUID: old.UID, NewUID: p.UID})
		case i < n/2+window:
			p := newPod(i, fmt.Sprintf("redis-%d-surge-1", i), "v2", false, benchT0.Add(-10*time.Second))
			d.pods = append(d.pods, old, p)
			us.Pods = append(us.Pods, status.PodProgress{Index: i, Stage: status.StageWaitingReady, Since: metav1.NewTime(benchT0.Add(-10 * time.Second)), Version: "v2", Surge: true, NewUID: p.UID})
		default:
			d.pods = append(d.pods, old)
		}
	}
	return d, spec, st
}

// completed builds a group of n slots that finished upgrading to v2 (the
// stopped pods' UIDs still remembered).
func completed(n int32) (*staticDriver, upgrade.Spec, status.Status) {
	var spec upgrade.Spec
	spec.Default()
	started, done := metav1.NewTime(benchT0.Add(-time.Hour)), metav1.NewTime(benchT0.Add(-time.Minute))
	st := status.Status{
		Phase: status.PhaseRunning, CurrentVersion: "v2", TargetVersion: "v2",
		UpgradeStatus: &status.UpgradeStatus{
			Phase: status.UpgradeCompleted, FromVersion: "v1", ToVersion: "v2",
			StartedAt: &started, CompletedAt: &done, TotalReplicas: n, UpdatedReplicas: n,
		},
	}
	d := &staticDriver{}
	for i := range n {
		d.pods = append(d.pods, upgrade.Pod{Index: i, Name: fmt.Sprintf("redis-%d", i), Version: "v2", Ready: true, Created: benchT0.Add(-30 * time.Minute), UID: fmt.Sprintf("uid-%d", i)})
		st.UpgradeStatus.Retired = append(st.UpgradeStatus.Retired, fmt.Sprintf("uid-old-%d", i))
	}
	return d, spec, st
}

func benchUpgrader(b *testing.B, d *staticDriver, spec upgrade.Spec) *upgrade.Upgrader {
	b.Helper()
	u, err := upgrade.New(d, spec, upgrade.WithClock(clocktesting.NewFakeClock(benchT0)))
	if err != nil {
		b.Fatal(err)
	}
	return u
}

// settle runs one Step so that st holds what Steps in this state write
// (conditions, messages), and checks it wrote nothing and is not done.
func settle(b *testing.B, u *upgrade.Upgrader, d *staticDriver, st *status.Status, want upgrade.Desired, wantDone bool) {
	b.Helper()
	for range 2 {
		res, err := u.Step(context.Background(), st, want)
		if err != nil || d.writes > 0 || res.Done != wantDone {
			b.Fatalf("the benchmark state is not steady: result %+v, error %v, %d writes", res, err, d.writes)
		}
	}
}

// meter measures what the benchmark loop costs per pod.
type meter struct {
	mem runtime.MemStats
	cpu time.Duration
}

// start reads the counters; call it right before the loop.
func (m *meter) start() {
	runtime.ReadMemStats(&m.mem)
	m.cpu = cpuTime()
}

// report reports allocs/pod, ns/pod and cpu-ns/op (the process's CPU time
// per iteration, garbage collection included: on a busy machine ns/op
// also counts the time spent waiting for a CPU). Call it right after the
// loop.
func (m *meter) report(b *testing.B, n int32) {
	cpu := cpuTime() - m.cpu
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-m.mem.Mallocs)/float64(b.N)/float64(n), "allocs/pod")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/pod")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// benchAt runs op in a b.Loop at each size, on the state build makes, and
// reports the costs per pod. With settleDone set, the state is first
// checked steady (settle); whatever op does, it must not write.
func benchAt(b *testing.B, build func(n int32) (*staticDriver, upgrade.Spec, status.Status), settleDone *bool,
	op func(ctx context.Context, u *upgrade.Upgrader, st *status.Status, want upgrade.Desired) error) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			d, spec, st := build(n)
			u := benchUpgrader(b, d, spec)
			want := upgrade.Desired{Version: "v2", Replicas: n}
			if settleDone != nil {
				settle(b, u, d, &st, want, *settleDone)
			}
			ctx := context.Background()
			b.ReportAllocs()
			var m meter
			m.start()
			for b.Loop() {
				if err := op(ctx, u, &st, want); err != nil {
					b.Fatal(err)
				}
			}
			m.report(b, n)
			if d.writes > 0 {
				b.Fatalf("%d writes", d.writes)
			}
		})
	}
}

func step(ctx context.Context, u *upgrade.Upgrader, st *status.Status, want upgrade.Desired) error {
	_, err := u.Step(ctx, st, want)
	return err
}

func BenchmarkStep(b *testing.B) {
	moving := false
	benchAt(b, midUpgrade, &moving, step)
}

func BenchmarkPlan(b *testing.B) {
	moving := false
	benchAt(b, midUpgrade, &moving, func(ctx context.Context, u *upgrade.Upgrader, st *status.Status, want upgrade.Desired) error {
		p, err := u.Plan(ctx, st, want)
		if err == nil && len(p.Order) == 0 {
			err = fmt.Errorf("empty plan")
		}
		return err
	})
}

// BenchmarkStepIdle is a Step with nothing to do: the upgrade completed.
func BenchmarkStepIdle(b *testing.B) {
	done := true
	benchAt(b, completed, &done, step)
}

// windowStart builds a group of n slots at the start of an upgrade v1 ->
// v2 with maxSurge 10%: the attempt started, no slot moved yet. The next
// Step starts a window of n/10 slots at once.
func windowStart(n int32) (*staticDriver, upgrade.Spec, status.Status) {
	d, spec, st := midUpgrade(n)
	d.pods = d.pods[:0]
	for i := range n {
		d.pods = append(d.pods, upgrade.Pod{Index: i, Name: fmt.Sprintf("redis-%d", i), Version: "v1", Ready: true, Created: benchT0.Add(-48 * time.Hour), UID: fmt.Sprintf("uid-%d", i)})
	}
	st.UpgradeStatus.Pods, st.UpgradeStatus.Retired = nil, nil
	return d, spec, st
}

// BenchmarkPlanWindow is a Plan that starts a whole window: n/10 surge
// creates, each checked against the pod budget (and counted).
func BenchmarkPlanWindow(b *testing.B) {
	benchAt(b, windowStart, nil, func(ctx context.Context, u *upgrade.Upgrader, st *status.Status, want upgrade.Desired) error {
		p, err := u.Plan(ctx, st, want)
		if err != nil {
			return err
		}
		creates := 0
		for k := range p.Next {
			if p.Next[k].Kind == upgrade.ActionCreate {
				creates++
			}
		}
		if window := (want.Replicas + 9) / 10; creates != int(window) { // maxSurge 10%, rounded up
			return fmt.Errorf("%d creates, want %d", creates, window)
		}
		return nil
	})
}
