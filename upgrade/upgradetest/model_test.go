package upgradetest_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
	"pgregory.net/rapid"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/upgradetest"
	"github.com/rollgate/rollgate/verify"
)

// The randomized, model-based suite of the upgrade engine: every scenario
// draws a group (replicas, budgets, partition, order, primary, checks,
// rollback policy and count), runs Steps on fresh Upgraders while it
// injects random faults, and checks every invariant of upgradetest after
// every Step (S1-S8, L3); then it stops the faults and checks that the group
// settles within a bound and stays there (L1), rolled back cleanly (L2)
// when it rolled back.
//
//	go test ./upgrade/upgradetest/ -run 'TestModel$' -v              # 2,000 scenarios, fixed seed
//	go test ./upgrade/upgradetest/ -run 'TestModel$' -rapid.seed=N   # reproduce a failure
//	make stress                                                        # 100,000 scenarios, random seeds
//
// A failure prints the seed and the minimal case rapid shrank it to, and
// leaves a fail file under testdata/rapid to replay it
// (-rapid.failfile=...).

const (
	// defaultScenarios is how many scenarios plain `go test` runs.
	defaultScenarios = 2000
	// defaultSeed makes plain `go test` (and CI) deterministic; stress runs
	// and -rapid.seed pick others.
	defaultSeed = 20250119
)

var explicitFlags = map[string]bool{}

func TestMain(m *testing.M) {
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { explicitFlags[f.Name] = true })
	os.Exit(m.Run())
}

// withRapid runs fn with rapid's count and seed set to checks and seed
// unless the command line (or RAPID_CHECKS / RAPID_SEED) set them.
func withRapid(t *testing.T, checks int, seed uint64, fn func()) {
	t.Helper()
	set := func(name, env, v string) {
		if explicitFlags[name] || os.Getenv(env) != "" {
			return
		}
		old := flag.Lookup(name).Value.String()
		if err := flag.Set(name, v); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = flag.Set(name, old) })
	}
	set("rapid.checks", "RAPID_CHECKS", fmt.Sprint(checks))
	if seed != 0 {
		set("rapid.seed", "RAPID_SEED", fmt.Sprint(seed))
	}
	fn()
}

// TestModel runs the randomized suite: defaultScenarios scenarios with a
// fixed seed (-rapid.checks and -rapid.seed override them).
func TestModel(t *testing.T) {
	tally := newTally()
	withRapid(t, defaultScenarios, defaultSeed, func() {
		rapid.Check(t, func(rt *rapid.T) { runScenario(rt, tally, false) })
	})
	tally.report(t, "TestModel")
}

// TestStressModel is the long run of the suite (make stress): as many
// scenarios as -rapid.checks says, from a random seed unless -rapid.seed
// is given. Without -rapid.checks it is skipped: TestModel covers plain
// `go test`.
func TestStressModel(t *testing.T) {
	if !explicitFlags["rapid.checks"] && os.Getenv("RAPID_CHECKS") == "" {
		t.Skip("stress run: give -rapid.checks (make stress)")
	}
	tally := newTally()
	rapid.Check(t, func(rt *rapid.T) { runScenario(rt, tally, false) })
	tally.report(t, "TestStressModel")
}

// TestModelBrokenOldPods is L3 as a liveness property: when the only
// faults are old pods that break (crash, stay not ready) at or above the
// partition, at random moments, the upgrade completes (or pauses at the
// partition): a broken old pod never blocks the upgrade that replaces it,
// whatever the budgets, order, checks and primary. (TestModel checks L3
// after every Step, with every fault.)
func TestModelBrokenOldPods(t *testing.T) {
	tally := newTally()
	withRapid(t, defaultScenarios/4, defaultSeed+1, func() {
		rapid.Check(t, func(rt *rapid.T) { runScenario(rt, tally, true) })
	})
	tally.report(t, "TestModelBrokenOldPods")
}

// TestStressModelBrokenOldPods is TestModelBrokenOldPods for make stress.
func TestStressModelBrokenOldPods(t *testing.T) {
	if !explicitFlags["rapid.checks"] && os.Getenv("RAPID_CHECKS") == "" {
		t.Skip("stress run: give -rapid.checks (make stress)")
	}
	tally := newTally()
	rapid.Check(t, func(rt *rapid.T) { runScenario(rt, tally, true) })
	tally.report(t, "TestStressModelBrokenOldPods")
}

// ---- counting ----

// tally counts what the scenarios did, for the README's figures.
type tally struct {
	mu        sync.Mutex
	scenarios int
	steps     int
	maxSettle int
	faults    map[string]int
	outcomes  map[string]int
}

func newTally() *tally { return &tally{faults: map[string]int{}, outcomes: map[string]int{}} }

func (t *tally) add(m *model, outcome string, settleSteps int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.scenarios++
	t.steps += m.steps
	t.maxSettle = max(t.maxSettle, settleSteps)
	for k, v := range m.faults {
		t.faults[k] += v
	}
	t.outcomes[outcome]++
}

func (t *tally) report(tb testing.TB, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	total := 0
	for _, v := range t.faults {
		total += v
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d scenarios (shrinking reruns included), %d Steps, %d faults injected, most Steps to settle once faults stopped %d\n",
		name, t.scenarios, t.steps, total, t.maxSettle)
	b.WriteString("  faults by kind:")
	for _, k := range slices.Sorted(maps.Keys(t.faults)) {
		fmt.Fprintf(&b, " %s=%d", k, t.faults[k])
	}
	b.WriteString("\n  outcomes:")
	for _, k := range slices.Sorted(maps.Keys(t.outcomes)) {
		fmt.Fprintf(&b, " %s=%d", k, t.outcomes[k])
	}
	tb.Log(b.String())
}

// ---- the model ----

var errCrash = errors.New("controller crashed")

// model is one scenario: the group, the caller's persisted status, and the
// fault switches the driver's hooks read.
type model struct {
	t        *rapid.T
	clk      *clocktesting.FakeClock
	d        *upgradetest.Driver
	drv      upgrade.PodDriver
	spec     upgrade.Spec
	replicas int32
	want     string
	next     int // the next new version is v<next>
	checker  *upgradetest.Checker
	opts     []upgrade.Option

	// persisted is the status the caller stored last; history holds the
	// ones stored before it, newest last (a crash may lose the latest
	// writes).
	persisted *status.Status
	history   []*status.Status

	preHealth      bool
	flap           bool
	flapCalls      int
	failoverBroken bool
	refuse         string

	// crash: the Step crashes right after its crashAfter-th driver write
	// (0: no crash); later calls of the Step find a dead process.
	crashAfter int
	writes     int
	crashed    bool

	// killed lists the pods a fault made die; they come back when the
	// faults stop.
	killed []string
	// freshFrom: a stale view may show what a Pods call returned, but not
	// one made before the freshFrom-th list (see listed). Nothing can know
	// of a write that both the status (lost) and the list (older than the
	// write) miss, so after a status is lost the list is fresh from the
	// next call on, as a restarted controller's relist is. The same holds
	// when the attempt turns (a rollback, a new target, a new attempt):
	// the status then starts its slots' entries afresh, remembering only
	// the pods it stopped and the creates not listed yet.
	freshFrom int

	steps  int
	faults map[string]int
	trail  []string // what happened, for failure messages
}

func (m *model) note(format string, args ...any) {
	m.trail = append(m.trail, fmt.Sprintf("[step %d, pods call %d] ", m.steps, m.d.Calls(upgradetest.ActionPods))+fmt.Sprintf(format, args...))
}

func (m *model) fault(kind string) {
	m.faults[kind]++
	m.note("fault %s", kind)
}

func intOrPercent(t *rapid.T, label string, maxInt int) *intstr.IntOrString {
	if rapid.Bool().Draw(t, label+"IsPercent") {
		v := intstr.FromString(fmt.Sprintf("%d%%", rapid.SampledFrom([]int{0, 10, 20, 25, 34, 50, 75, 100}).Draw(t, label+"Percent")))
		return &v
	}
	v := intstr.FromInt32(int32(rapid.IntRange(0, maxInt).Draw(t, label)))
	return &v
}

func newModel(t *rapid.T, brokenOnly bool) *model {
	m := &model{t: t, faults: map[string]int{}, want: "v2", next: 3}
	m.replicas = int32(rapid.IntRange(1, 12).Draw(t, "replicas"))
	ru := &m.spec.RollingUpdate
	ru.MaxSurge = intOrPercent(t, "maxSurge", 3)
	ru.MaxUnavailable = intOrPercent(t, "maxUnavailable", 3)
	zero := func(v *intstr.IntOrString) bool { return v.String() == "0" || v.String() == "0%" }
	if zero(ru.MaxSurge) && zero(ru.MaxUnavailable) {
		ru.MaxUnavailable = ptr(intstr.FromInt32(1)) // both literal 0 is invalid
	}
	if rapid.Bool().Draw(t, "hasPartition") {
		ru.Partition = ptr(int32(rapid.IntRange(1, int(m.replicas)).Draw(t, "partition")))
	}
	ru.Timeout = &metav1.Duration{Duration: time.Duration(rapid.IntRange(15, 45).Draw(t, "timeoutSeconds")) * time.Second}
	ru.Order = rapid.SampledFrom([]upgrade.Order{upgrade.Ordinal, upgrade.ReverseOrdinal, upgrade.PrimaryLast, upgrade.LongestFirst}).Draw(t, "order")

	rb := &m.spec.Rollback
	rb.Enabled = rapid.Bool().Draw(t, "rollbackEnabled")
	rb.OnFailure = rapid.Bool().Draw(t, "rollbackOnFailure")
	rb.Limit = ptr(int32(rapid.IntRange(0, 3).Draw(t, "rollbackLimit")))
	startCount := int32(rapid.IntRange(0, int(*rb.Limit)).Draw(t, "startRollbackCount"))

	var opts []upgrade.Option
	post := rapid.Bool().Draw(t, "postVerify")
	if post {
		m.spec.PostUpgradeVerify = verify.Check{Enabled: true, Type: verify.TypeExec, Command: "redis-cli ping", Expected: "PONG",
			Interval:         &metav1.Duration{Duration: time.Duration(rapid.IntRange(1, 3).Draw(t, "verifyInterval")) * time.Second},
			SuccessThreshold: int32(rapid.IntRange(1, 2).Draw(t, "verifySuccess")),
			FailureThreshold: int32(rapid.IntRange(1, 3).Draw(t, "verifyFailures")),
			ErrorThreshold:   int32(rapid.IntRange(1, 4).Draw(t, "verifyErrors")),
		}
	}
	switch rapid.IntRange(0, 2).Draw(t, "preCheck") {
	case 1:
		m.spec.PreUpgradeCheck = verify.Check{Enabled: true, Type: verify.TypeCustom, Command: "redis-cli info replication", Expected: "up"}
	case 2:
		m.spec.PreUpgradeCheck = verify.Check{Enabled: true, Type: verify.TypeHealthCheck}
		m.preHealth = true
	}
	if m.spec.PreUpgradeCheck.Enabled {
		m.spec.PreUpgradeCheck.Timeout = &metav1.Duration{Duration: time.Duration(rapid.IntRange(3, 20).Draw(t, "preTimeoutSeconds")) * time.Second}
		m.spec.PreUpgradeCheck.Interval = &metav1.Duration{Duration: time.Duration(rapid.IntRange(1, 3).Draw(t, "preInterval")) * time.Second}
	}
	if !brokenOnly && rapid.IntRange(0, 3).Draw(t, "refusesAVersion") == 0 {
		m.refuse = "v3"
	}

	base := time.Duration(rapid.IntRange(0, 6).Draw(t, "startDelaySeconds")) * time.Second
	extra := rapid.SliceOfN(rapid.IntRange(0, 3), int(m.replicas), int(m.replicas)).Draw(t, "startDelayExtraSeconds")
	term := time.Duration(rapid.IntRange(0, 3).Draw(t, "terminationSeconds")) * time.Second
	primary := int32(rapid.IntRange(-1, int(m.replicas)-1).Draw(t, "primary"))
	canFailover := rapid.IntRange(0, 4).Draw(t, "noFailover") != 0

	m.clk = clocktesting.NewFakeClock(time.Date(2025, 1, 19, 10, 0, 0, 0, time.UTC))
	m.d = upgradetest.NewDriver(m.clk,
		upgradetest.WithName("db"),
		upgradetest.WithReplicas(m.replicas, "v1"),
		upgradetest.WithPrimary(primary),
		upgradetest.WithStartDelay(func(i int32, _ string) time.Duration { return base + time.Duration(extra[i])*time.Second }),
		// LongestFirst's estimate: the start delay, as a driver might know it.
		upgradetest.WithEstimate(func(p upgrade.Pod) time.Duration { return base + time.Duration(extra[p.Index])*time.Second }),
		upgradetest.WithTerminationDelay(func(upgrade.Pod) time.Duration { return term }),
		// A stale list is never older than the pod timeout: past it the
		// Upgrader takes a pod it no longer sees for gone (the limit in
		// the README's Reliability section).
		upgradetest.WithMaxStaleness(ru.Timeout.Duration),
		upgradetest.WithFailoverDelay(time.Duration(rapid.IntRange(0, 2).Draw(t, "failoverDelaySeconds"))*time.Second),
		upgradetest.WithFailoverChooser(func(primary upgrade.Pod, cands []upgrade.Pod) (upgrade.Pod, error) {
			if m.failoverBroken {
				return upgrade.Pod{}, errors.New("replication link down on every candidate")
			}
			for _, c := range cands {
				if c.Index != primary.Index {
					return c, nil
				}
			}
			return cands[0], nil
		}),
		upgradetest.WithVerify(func(verify.Target) error {
			if !m.flap {
				return nil
			}
			m.flapCalls++
			if m.flapCalls%2 == 0 {
				return &verify.FailedError{Type: verify.TypeExec, Reason: "flapping: PONG missing"}
			}
			return nil
		}),
	)
	m.drv = m.d
	if !canFailover {
		m.drv = m.d.WithoutFailover()
	}
	// A crashed controller makes no more calls in its Step.
	m.d.PrependReactor(upgradetest.AnyAction, func(a upgradetest.Action) (bool, error) {
		if m.crashed {
			return true, errCrash
		}
		switch a.Kind {
		case upgradetest.ActionCreate, upgradetest.ActionDelete, upgradetest.ActionFailover:
			m.writes++
			if m.crashAfter > 0 && m.writes == m.crashAfter {
				m.crashed = true // this write goes through; the process dies after it
			}
		}
		return false, nil
	})
	if post {
		opts = append(opts, upgrade.WithPostUpgradeVerifier(m.d.Verifier()))
	}
	if m.spec.PreUpgradeCheck.Enabled && !m.preHealth {
		opts = append(opts, upgrade.WithPreUpgradeCheck(m.d.Verifier()))
	}
	opts = append(opts, upgrade.WithClock(m.clk), upgrade.WithPrecheck(upgrade.PrecheckFunc(func(_ context.Context, _, to string) error {
		if to == m.refuse {
			return fmt.Errorf("plugin does not support %s", to)
		}
		return nil
	})))
	m.opts = opts
	m.persisted = &status.Status{RollbackCount: startCount}
	if rapid.Bool().Draw(t, "knowsCurrentVersion") {
		m.persisted.CurrentVersion = "v1"
	}
	m.checker = upgradetest.NewChecker(m.spec, m.replicas, "", "")
	return m
}

func ptr[T any](v T) *T { return &v }

// turned reports whether the attempt turned from before to after: started,
// rolled back, or moved to a new target.
func turned(before, after *status.Status) bool {
	b, a := before.UpgradeStatus, after.UpgradeStatus
	switch {
	case a == nil:
		return false
	case b == nil:
		return true
	}
	return !b.StartedAt.Equal(a.StartedAt) || b.ToVersion != a.ToVersion ||
		(a.Phase == status.UpgradeRollingBack) != (b.Phase == status.UpgradeRollingBack)
}

func (m *model) upgrader() *upgrade.Upgrader {
	u, err := upgrade.New(m.drv, m.spec, m.opts...)
	if err != nil {
		m.t.Fatalf("upgrade.New: %v", err)
	}
	return u
}

// driverError reports whether every error joined in err came from the
// driver (injected, refused by a precondition, a failed failover) or from
// the simulated crash: the engine itself must not fail.
func driverError(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !driverError(e) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, errCrash) || strings.Contains(err.Error(), "upgradetest:")
}

// stepOnce runs one Step on a fresh Upgrader from the persisted status,
// checks every invariant, and persists the result unless the Step crashed
// or lose says the write was lost.
func (m *model) stepOnce(crashAfter int, lose bool) (upgrade.Result, *status.Status, error) {
	m.steps++
	m.crashAfter, m.writes, m.crashed = crashAfter, 0, false
	st := m.persisted.DeepCopy()
	m.checker.Resume(st)
	res, err := m.upgrader().Step(context.Background(), st, upgrade.Desired{Version: m.want, Replicas: m.replicas})
	crashed := m.crashed
	switch {
	case crashed:
		m.fault("crash-after-write")
	case crashAfter > 0:
		m.fault("crash-before-status-write")
		lose = true
	}
	m.crashAfter, m.crashed = 0, false
	if err != nil && !driverError(err) {
		m.t.Fatalf("step %d: engine error (not from the driver): %v", m.steps, err)
	}
	if err := m.checker.CheckStep(st, m.d); err != nil {
		m.t.Fatalf("step %d: %v\n%s", m.steps, err, m.describe(st))
	}
	if err := m.checker.CheckStatus(st, m.d.Truth()); err != nil {
		m.t.Fatalf("step %d: %v\n%s", m.steps, err, m.describe(st))
	}
	m.note("step: %s -> %s (retired %v), crashed %t, lost %t, err %v, entries %s", phaseOf(m.persisted), phaseOf(st), retiredOf(st), crashed, lose, err, entriesOf(st))
	if crashed || lose {
		m.memoryLost()
		return res, st, err
	}
	if turned(m.persisted, st) {
		m.memoryLost()
	}
	m.history = append(m.history, m.persisted)
	if len(m.history) > 4 {
		m.history = m.history[1:]
	}
	m.persisted = st
	return res, st, err
}

// memoryLost records that the engine lost the status of some Steps: the
// list is fresh from the next Pods call on (see freshFrom).
func (m *model) memoryLost() {
	m.d.StalePods(0, 0)
	m.freshFrom = m.listed() + 1
}

// listed counts the Pods calls that returned a list (StalePods counts
// back among those).
func (m *model) listed() int {
	n := 0
	for _, a := range m.d.ActionsOf(upgradetest.ActionPods) {
		if a.Err == nil && !a.Handled {
			n++
		}
	}
	return n
}

func (m *model) describe(st *status.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "want %s, replicas %d, partition %v, spec %+v\n", m.want, m.replicas, m.spec.RollingUpdate.Partition, m.spec.RollingUpdate)
	fmt.Fprintf(&b, "status: phase %s, current %s, rollbackCount %d\n", st.Phase, st.CurrentVersion, st.RollbackCount)
	if us := st.UpgradeStatus; us != nil {
		fmt.Fprintf(&b, "upgrade: %s %s -> %s, updated %d, message %q\n", us.Phase, us.FromVersion, us.ToVersion, us.UpdatedReplicas, us.Message)
		for _, f := range us.Failures {
			fmt.Fprintf(&b, "  failure slot %d %s recovered=%t: %s\n", f.Index, f.Reason, f.Recovered, f.Error)
		}
		for _, e := range us.Pods {
			fmt.Fprintf(&b, "  entry %d %s v=%s surge=%t old=%s new=%s errs=%d msg=%q\n", e.Index, e.Stage, e.Version, e.Surge, e.OldUID, e.NewUID, e.Errors, e.Message)
		}
	}
	for _, p := range m.d.Truth() {
		fmt.Fprintf(&b, "  pod %s slot %d %s ready=%t primary=%t failed=%q terminating=%t %s\n", p.Name, p.Index, p.Version, p.Ready, p.Primary, p.Failed, p.Terminating, p.UID)
	}
	acts := m.d.Actions()
	for k := len(acts) - 1; k >= 0; k-- {
		if a := acts[k]; a.Kind == upgradetest.ActionPods && a.Err == nil && !a.Handled {
			fmt.Fprintf(&b, "  last view (#%d):", a.Seq)
			for _, p := range a.Returned {
				fmt.Fprintf(&b, " %s/%s/ready=%t/primary=%t/term=%t", p.Name, p.Version, p.Ready, p.Primary, p.Terminating)
			}
			b.WriteString("\n")
			break
		}
	}
	trail := m.trail
	if len(trail) > 40 {
		trail = trail[len(trail)-40:]
	}
	for _, l := range trail {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	if len(acts) > 30 {
		acts = acts[len(acts)-30:]
	}
	for _, a := range acts {
		fmt.Fprintf(&b, "  %s\n", a)
	}
	return b.String()
}

// livePod draws a pod of the group (not terminating), or "".
func (m *model) livePod(label string, keep func(upgrade.Pod) bool) string {
	var names []string
	for _, p := range m.d.Truth() {
		if !p.Terminating && (keep == nil || keep(p)) {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return rapid.SampledFrom(names).Draw(m.t, label)
}

func (m *model) slotOrAny(label string) int32 {
	i := rapid.IntRange(-1, int(m.replicas)-1).Draw(m.t, label)
	if i < 0 {
		return upgradetest.AnyIndex
	}
	return int32(i)
}

// version draws a version a pod fault applies to: the desired one, the
// one before it, or any.
func (m *model) faultVersion(label string) string {
	vs := []string{m.want, "v1", ""}
	if us := m.persisted.UpgradeStatus; us != nil {
		vs = append(vs, us.FromVersion, us.ToVersion)
	}
	return rapid.SampledFrom(vs).Draw(m.t, label)
}

var callKinds = []upgradetest.ActionKind{upgradetest.ActionPods, upgradetest.ActionCreate, upgradetest.ActionDelete, upgradetest.ActionFailover, upgradetest.ActionVerify}

// inject draws and injects faults before a Step; it returns the crash
// point (0: none) and whether the Step's status write is lost.
func (m *model) inject(brokenOnly bool) (crashAfter int, lose bool) {
	t := m.t
	n := rapid.IntRange(0, 3).Draw(t, "faultsThisStep")
	for range n {
		var kind int
		if brokenOnly {
			// Only old pods that break: crashes, lost status writes and
			// stale views could run a check out of time on their own.
			kind = 5
		} else {
			kind = rapid.IntRange(0, 21).Draw(t, "fault")
		}
		switch kind {
		case 0: // a driver call fails, before or after its effect
			k := rapid.SampledFrom(callKinds).Draw(t, "callKind")
			after := rapid.Bool().Draw(t, "afterEffect")
			if k == upgradetest.ActionPods || k == upgradetest.ActionVerify {
				after = false
			}
			m.d.InjectFault(upgradetest.CallFault{Kind: k, Nth: m.d.Calls(k) + rapid.IntRange(1, 3).Draw(t, "nthCall"), AfterEffect: after})
			if after {
				m.fault("call-error-after-effect:" + string(k))
			} else {
				m.fault("call-error:" + string(k))
			}
		case 1: // a crash right after one of this Step's writes (counted
			// by stepOnce: a Step with fewer writes crashes before it
			// persists its status)
			crashAfter = rapid.IntRange(1, 3).Draw(t, "crashAfterWrite")
		case 2: // the status write of this Step is lost
			lose = true
			m.fault("status-write-lost")
		case 3: // the last status writes were lost: restart from an older one
			// (Not as far back as a status without currentVersion: with
			// pods on two versions the engine cannot tell which one the
			// group ran, and says so.)
			for len(m.history) > 0 && m.history[0].CurrentVersion == "" {
				m.history = m.history[1:]
			}
			if len(m.history) > 0 {
				k := rapid.IntRange(1, len(m.history)).Draw(t, "statusWritesLost")
				m.persisted = m.history[len(m.history)-k]
				m.history = m.history[:len(m.history)-k]
				m.memoryLost()
				m.fault("stale-status")
			}
		case 4: // a stale Pods view, back in time up to 4 calls
			// (not past a lost status write: see freshFrom)
			if reach := m.listed() + 1 - m.freshFrom; reach >= 1 {
				m.d.StalePods(rapid.IntRange(1, min(4, reach)).Draw(t, "staleAgo"), rapid.IntRange(1, 3).Draw(t, "staleTimes"))
				m.fault("stale-pods")
			}
		case 5: // a pod dies on its own
			keep := func(p upgrade.Pod) bool { return true }
			if brokenOnly {
				// Only old pods the upgrade will replace.
				keep = func(p upgrade.Pod) bool { return p.Version == "v1" && p.Index >= m.partition() }
			}
			if name := m.livePod("killPod", keep); name != "" {
				_ = m.d.Kill(name)
				m.killed = append(m.killed, name)
				m.fault("pod-dies")
			}
		case 6: // a dead pod comes back
			if name := m.livePod("revivePod", func(p upgrade.Pod) bool { return !p.Ready && p.Failed == "" }); name != "" {
				_ = m.d.SetReady(name, true)
				m.fault("pod-revives")
			}
		case 7: // pods never become ready
			m.d.NeverReady(m.slotOrAny("neverReadySlot"), m.faultVersion("neverReadyVersion"))
			m.fault("never-ready")
		case 8: // pods fail with a reason
			if brokenOnly {
				continue
			}
			reason := rapid.SampledFrom([]string{"ImagePullBackOff", "CrashLoopBackOff", "CreateContainerConfigError"}).Draw(t, "failedReason")
			m.d.FailPods(m.slotOrAny("failedSlot"), m.faultVersion("failedVersion"), reason, time.Duration(rapid.IntRange(0, 5).Draw(t, "failedAfterSeconds"))*time.Second)
			m.fault("failed-reason")
		case 9: // the verifier fails
			m.d.SetVerifyResult(m.slotOrAny("verifyFailSlot"), m.faultVersion("verifyFailVersion"), &verify.FailedError{Type: verify.TypeExec, Reason: "output lacks PONG"})
			m.fault("verify-fails")
		case 10: // the verifier cannot run
			m.d.SetVerifyResult(m.slotOrAny("verifyErrorSlot"), m.faultVersion("verifyErrorVersion"), errors.New("exec: connection refused"))
			m.fault("verify-errors")
		case 11: // the verifier passes again
			m.d.SetVerifyResult(upgradetest.AnyIndex, "", nil)
		case 12: // the verifier flaps
			m.flap = !m.flap
			if m.flap {
				m.fault("verify-flaps")
			}
		case 13: // failover fails
			m.failoverBroken = !m.failoverBroken
			if m.failoverBroken {
				m.fault("failover-fails")
			}
		case 14: // the desired version changes mid-upgrade
			if rapid.Bool().Draw(t, "backToOld") {
				m.want = rapid.SampledFrom([]string{"v1", m.fromVersion()}).Draw(t, "oldVersion")
			} else {
				m.want = fmt.Sprintf("v%d", m.next)
				m.next++
			}
			m.fault("desired-version-changed")
		case 15: // a manual rollback
			m.manualRollback()
		case 16: // the partition is lowered
			if p := m.partition(); p > 0 {
				m.setPartition(int32(rapid.IntRange(0, int(p)-1).Draw(t, "lowerPartitionTo")))
				m.fault("partition-lowered")
			}
		case 17: // a pod vanishes (node lost)
			// (Not before the status knows the group's version: with every
			// pod gone and no status, nothing can tell what ran.)
			if m.persisted.CurrentVersion == "" {
				continue
			}
			if name := m.livePod("removePod", nil); name != "" {
				_ = m.d.Remove(name)
				m.fault("pod-vanishes")
			}
		case 18: // the controller wakes late
			m.clk.Step(time.Duration(rapid.IntRange(1, 30).Draw(t, "lateSeconds")) * time.Second)
			m.fault("late-wakeup")
		case 19: // a person retries a stopped attempt
			u := m.upgrader()
			st := m.persisted.DeepCopy()
			err := u.Retry(st)
			us := m.persisted.UpgradeStatus
			ok := us != nil && (us.Phase == status.UpgradeRolledBack || us.Phase == status.UpgradeFailed)
			if (err == nil) != ok {
				t.Fatalf("Retry in phase %v: err %v", phaseOf(m.persisted), err)
			}
			if err == nil {
				// Retry clears the attempt's status, with what it
				// remembers of its writes: as after a lost status, the
				// list is fresh from now on (see freshFrom).
				m.persisted = st
				m.memoryLost()
				m.fault("retry")
			}
		default: // nothing
		}
	}
	return crashAfter, lose
}

func entriesOf(st *status.Status) string {
	if st.UpgradeStatus == nil {
		return ""
	}
	var b strings.Builder
	for _, e := range st.UpgradeStatus.Pods {
		fmt.Fprintf(&b, "%d:%s/%s ", e.Index, e.Stage, e.Version)
	}
	return b.String()
}

func retiredOf(st *status.Status) []string {
	if st.UpgradeStatus == nil {
		return nil
	}
	return st.UpgradeStatus.Retired
}

func phaseOf(st *status.Status) string {
	if st.UpgradeStatus == nil {
		return "none"
	}
	return string(st.UpgradeStatus.Phase)
}

func (m *model) fromVersion() string {
	if us := m.persisted.UpgradeStatus; us != nil {
		return us.FromVersion
	}
	return "v1"
}

func (m *model) partition() int32 {
	if p := m.spec.RollingUpdate.Partition; p != nil {
		return min(*p, m.replicas)
	}
	return 0
}

func (m *model) setPartition(p int32) {
	m.spec.RollingUpdate.Partition = &p
	m.checker.SetPartition(p)
}

func (m *model) manualRollback() {
	st := m.persisted.DeepCopy()
	err := m.upgrader().Rollback(context.Background(), st, "operator asked")
	us := m.persisted.UpgradeStatus
	ok := us != nil && (us.Phase == status.UpgradeInProgress || us.Phase == status.UpgradePaused || us.Phase == status.UpgradeFailed)
	if (err == nil) != ok {
		m.t.Fatalf("Rollback in phase %v: err %v", phaseOf(m.persisted), err)
	}
	if err == nil {
		m.persisted = st
		m.memoryLost() // the attempt turned: see freshFrom
		m.fault("manual-rollback")
	}
}

// settleBound is the most Steps a group may take to settle once faults
// stop: every slot may go through failover, pre-check, stop, start and
// verification, each bounded by its timeout, once upgrading and once
// rolling back, at about one Step per second of fake time, plus the
// terminations and the transitions.
func (m *model) settleBound() int {
	timeout := int(m.spec.RollingUpdate.Timeout.Duration / time.Second)
	perSlot := 4*timeout + 40
	return 100 + 2*int(m.replicas)*perSlot
}

func runScenario(t *rapid.T, tl *tally, brokenOnly bool) {
	m := newModel(t, brokenOnly)
	faultSteps := rapid.IntRange(0, 60).Draw(t, "faultSteps")
	for range faultSteps {
		crashAfter, lose := m.inject(brokenOnly)
		res, _, _ := m.stepOnce(crashAfter, lose)
		switch {
		case !res.Done:
			m.clk.Step(res.RequeueAfter)
		default:
			// Done: a pod event may still wake the controller.
			m.clk.Step(time.Duration(rapid.IntRange(0, 5).Draw(t, "idleSeconds")) * time.Second)
		}
	}
	// Faults stop; the desired state is fixed. Pods that died come back
	// (one that stays down below the partition would hold the budget for
	// good: the contract counts it, and the upgrade waits, saying so).
	m.d.ClearFaults()
	for _, name := range m.killed {
		_ = m.d.SetReady(name, true)
	}
	m.flap, m.failoverBroken = false, false
	step := func() (upgrade.Result, *status.Status, error) { return m.stepOnce(0, false) }
	n, err := upgradetest.Settle(m.clk, m.settleBound(), step)
	if err != nil {
		plan, perr := m.upgrader().Plan(context.Background(), m.persisted, upgrade.Desired{Version: m.want, Replicas: m.replicas})
		cp := m.persisted.DeepCopy()
		res, serr := m.upgrader().Step(context.Background(), cp, upgrade.Desired{Version: m.want, Replicas: m.replicas})
		t.Fatalf("%v\n%s\nplan: %v %v\nstep: %+v %v\n%s", err, m.describe(m.persisted), plan, perr, res, serr, m.describe(cp))
	}
	if err := upgradetest.Stable(m.d, 3, time.Minute, step); err != nil {
		t.Fatalf("%v\n%s", err, m.describe(m.persisted))
	}
	st := m.persisted
	if err := upgradetest.CheckSettled(st, m.replicas, m.d.Truth()); err != nil {
		t.Fatalf("%v\n%s", err, m.describe(st))
	}
	outcome := phaseOf(st)
	if brokenOnly {
		// L3: nothing but broken old pods (and crashes, stale views, late
		// wake-ups): the upgrade must get through.
		us := st.UpgradeStatus
		if us == nil || us.Phase != status.UpgradeCompleted && us.Phase != status.UpgradePaused {
			t.Fatalf("L3: only old pods broke, yet the upgrade ended %s\n%s", outcome, m.describe(st))
		}
	}
	tl.add(m, outcome, n)
}
