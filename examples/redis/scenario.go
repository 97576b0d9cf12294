package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
	"sigs.k8s.io/yaml"

	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/process"
	"github.com/rollgate/rollgate/verify"
)

// specYAML is the design's example 3.1 with the order a primary/replica
// group needs (replicas first, the primary's slot last) and checks that
// retry every second.
const specYAML = `
rollingUpdate:
  maxSurge: 1
  maxUnavailable: 0
  partition: 0
  timeout: 60s
  order: PrimaryLast
preUpgradeCheck:
  enabled: true
  type: health-check
  timeout: 30s
postUpgradeVerify:
  enabled: true
  type: exec
  command: redis-cli ping
  expected: PONG
  timeout: 5s
  interval: 1s
  failureThreshold: 2
rollback:
  enabled: true
  onFailure: true
  limit: 3
`

// metricsYAML is the design's metrics verification (6.2), scraped from
// each member's exporter (the pod's default port).
const metricsYAML = `
enabled: true
type: metrics
timeout: 5s
metrics:
  - name: redis_up
    expected: 1
  - name: redis_connected_clients
    expected: ">0"
`

// scenario is one run: start a group at From, write to it continuously,
// upgrade it to To, audit the writes.
type scenario struct {
	Name     string
	Replicas int32
	From, To string
	// FailSlot, when >= 0, makes the post-upgrade verification fail on that
	// slot's pod at To (an injected failure, to show the rollback).
	FailSlot int32
	// WriteInterval is the writer's pause between acknowledged writes.
	WriteInterval time.Duration
	// Dir holds the members' directories.
	Dir string
	// Members starts and probes the Redis members.
	Members *members
	// Live, when set, receives the timeline as it happens.
	Live io.Writer
	// Timeout bounds the whole run.
	Timeout time.Duration
}

// entry is one line of the timeline.
type entry struct {
	At      time.Time
	Source  string // driver, upgrader, writer
	What    string
	Detail  string
	Warning bool
}

// outcome is what a scenario produced.
type outcome struct {
	Start       time.Time
	Timeline    []entry
	Events      []process.Event // the driver's
	Writes      writeStats
	Audit       audit
	UpgradeTime time.Duration
	// UpgradeEnd is when the upgrade (or the rollback) finished.
	UpgradeEnd time.Time
	// FailoverOutage is the longest outage that overlaps a failover of the
	// primary (zero when no write failed around it).
	FailoverOutage outage
	Status         status.Status
	Pods           []upgrade.Pod
}

// recorder collects the timeline from the driver, the Upgrader and the
// writer, and echoes it live.
type recorder struct {
	mu      sync.Mutex
	start   time.Time
	entries []entry
	events  []process.Event
	live    io.Writer
}

func (r *recorder) add(e entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
	if r.live != nil {
		fmt.Fprintln(r.live, formatEntry(r.start, e))
	}
}

func (r *recorder) driverEvent(e process.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	msg := e.Message
	if e.Version != "" && e.Kind == process.EventCreated {
		msg = "version " + e.Version + ", " + msg
	}
	r.add(entry{At: e.Time, Source: "driver", What: fmt.Sprintf("%-12s %s", e.Kind, e.Pod), Detail: msg})
}

// Notify receives the Upgrader's events.
func (r *recorder) Notify(_ context.Context, e upgrade.Event) {
	r.add(entry{At: time.Now(), Source: "upgrader", What: e.Reason, Detail: e.Message, Warning: e.Warning})
}

func formatEntry(start time.Time, e entry) string {
	mark := " "
	if e.Warning {
		mark = "!"
	}
	d := e.At.Sub(start)
	return fmt.Sprintf("%8.3fs %s %-8s %-34s %s", d.Seconds(), mark, e.Source, e.What, e.Detail)
}

// parseScenarioSpec returns the example's spec and its metrics check.
func parseScenarioSpec() (upgrade.Spec, verify.Check, error) {
	spec, err := upgrade.ParseSpec([]byte(specYAML))
	if err != nil {
		return upgrade.Spec{}, verify.Check{}, err
	}
	var m verify.Check
	if err := yaml.UnmarshalStrict([]byte(metricsYAML), &m); err != nil {
		return upgrade.Spec{}, verify.Check{}, fmt.Errorf("metrics check: %w", err)
	}
	return spec, m, nil
}

// run plays the scenario. The outcome is filled as far as the run got,
// also when it returns an error.
func (s scenario) run(ctx context.Context) (out outcome, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	out.Start = time.Now()
	rec := &recorder{start: out.Start, live: s.Live}
	defer func() {
		rec.mu.Lock()
		out.Timeline = append([]entry(nil), rec.entries...)
		out.Events = append([]process.Event(nil), rec.events...)
		rec.mu.Unlock()
		sort.SliceStable(out.Timeline, func(a, b int) bool { return out.Timeline[a].At.Before(out.Timeline[b].At) })
	}()

	spec, metricsCheck, err := parseScenarioSpec()
	if err != nil {
		return out, err
	}
	cfg := s.Members.config("redis", s.Dir)
	cfg.OnEvent = rec.driverEvent
	d, err := process.New(cfg)
	if err != nil {
		return out, err
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		if cerr := d.Close(cctx); cerr != nil && err == nil {
			err = cerr
		}
	}()

	// The group: the primary first, then the replicas.
	rec.add(entry{At: time.Now(), Source: "example", What: "start group", Detail: fmt.Sprintf("%d members at %s", s.Replicas, s.From)})
	if err := d.Create(ctx, 0, s.From, false); err != nil {
		return out, err
	}
	if err := waitReady(ctx, d, 1); err != nil {
		return out, err
	}
	for i := int32(1); i < s.Replicas; i++ {
		if err := d.Create(ctx, i, s.From, false); err != nil {
			return out, err
		}
	}
	if err := waitReady(ctx, d, int(s.Replicas)); err != nil {
		return out, err
	}

	// The writer, through a client that follows the primary.
	w := &writer{interval: s.WriteInterval}
	w.client.addrs = func() []string {
		var addrs []string
		for _, in := range d.Instances() {
			addrs = append(addrs, in.Addr(redisPort))
		}
		return addrs
	}
	wctx, wcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.run(wctx) }()
	stopWriter := func() {
		wcancel()
		wg.Wait()
	}
	defer stopWriter()
	if err := waitFor(ctx, "the writer's first acknowledged writes", func() bool { return w.ackedCount() >= 50 }); err != nil {
		return out, err
	}
	rec.add(entry{At: time.Now(), Source: "writer", What: "writing", Detail: "MULTI SET w:<n> <n>; INCR writes; EXEC, to whichever member is primary"})

	// The upgrade.
	execV, err := verify.New(spec.PostUpgradeVerify, d)
	if err != nil {
		return out, err
	}
	metricsV, err := verify.New(metricsCheck, d)
	if err != nil {
		return out, err
	}
	check := func(ctx context.Context, t verify.Target) error {
		if s.FailSlot >= 0 && t.Index == s.FailSlot && t.Version == s.To {
			return &verify.FailedError{Type: verify.TypeExec, Pod: t.Name, Reason: "injected failure: this replica is declared bad after its upgrade"}
		}
		if err := execV.Verify(ctx, t); err != nil {
			return err
		}
		return metricsV.Verify(ctx, t)
	}
	post := verify.Func(func(ctx context.Context, t verify.Target) error {
		err := check(ctx, t)
		what, detail := "verified "+t.Name, "redis-cli ping: PONG; redis_up 1, redis_connected_clients >0"
		if err != nil {
			what, detail = fmt.Sprintf("verify %s: %s", t.Name, verify.Classify(err)), err.Error()
		}
		rec.add(entry{At: time.Now(), Source: "verify", What: what, Detail: detail, Warning: err != nil})
		return err
	})
	u, err := upgrade.New(d, spec,
		upgrade.WithClock(clock.RealClock{}),
		upgrade.WithNotifier(rec),
		upgrade.WithPostUpgradeVerifier(post),
		upgrade.WithPrecheck(upgrade.VersionPolicy{}),
		upgrade.WithPrecheck(upgrade.PrecheckFunc(func(_ context.Context, _, to string) error {
			// Design step 1, "the image is accessible": the build is there.
			_, err := s.Members.bin(to, "redis-server")
			return err
		})),
	)
	if err != nil {
		return out, err
	}
	var st status.Status
	began := time.Now()
	runErr := reconcile(ctx, u, d, &st, upgrade.Desired{Version: s.To, Replicas: s.Replicas})
	out.UpgradeTime = time.Since(began)
	out.UpgradeEnd = time.Now()
	out.Status = st
	rec.add(entry{At: time.Now(), Source: "example", What: "upgrade returned", Detail: fmt.Sprintf("phase %s after %s", phaseOf(st), out.UpgradeTime.Round(time.Millisecond))})
	if runErr != nil {
		return out, fmt.Errorf("upgrade: %w", runErr)
	}

	// Keep writing a moment on the final primary, then audit.
	target := w.ackedCount() + 200
	if err := waitFor(ctx, "writes on the final primary", func() bool { return w.ackedCount() >= target }); err != nil {
		return out, err
	}
	stopWriter()
	out.Writes = w.stats(began, out.UpgradeEnd)
	for _, o := range out.Writes.Outages {
		rec.add(entry{At: o.From, Source: "writer", What: fmt.Sprintf("no write acknowledged for %s", o.Gap().Round(time.Millisecond)), Detail: fmt.Sprintf("%d failed attempts, first: %s", o.Errors, o.First), Warning: true})
	}
	if out.Writes.MaxGap > 0 {
		rec.add(entry{At: out.Writes.MaxAt, Source: "writer", What: "longest gap between acks", Detail: ms(out.Writes.MaxGap) + " (during the upgrade)"})
	}
	out.FailoverOutage = failoverOutage(rec.snapshotEvents(), out.Writes.Outages)
	out.Audit, err = w.check(ctx, int(s.Replicas)-1)
	if err != nil {
		return out, err
	}
	out.Pods, err = d.Pods(ctx)
	rec.add(entry{At: time.Now(), Source: "example", What: "stop group", Detail: "audit done"})
	return out, err
}

func (r *recorder) snapshotEvents() []process.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]process.Event(nil), r.events...)
}

// reconcile calls Step as a controller would: again after RequeueAfter, or
// sooner when the driver sees a pod change (Driver.Watch polls every 50ms,
// as an informer would notify), until Done.
func reconcile(ctx context.Context, u *upgrade.Upgrader, d *process.Driver, st *status.Status, want upgrade.Desired) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changes := d.Watch(wctx, 50*time.Millisecond)
	failures := 0
	for {
		res, err := u.Step(ctx, st, want)
		if err != nil {
			if res == (upgrade.Result{}) {
				return err
			}
			failures++
			if failures > 20 {
				return fmt.Errorf("step failed %d times in a row: %w", failures, err)
			}
			res.RequeueAfter = time.Second
		} else {
			failures = 0
		}
		if res.Done {
			return nil
		}
		if res.RequeueAfter <= 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		t := time.NewTimer(res.RequeueAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		case <-changes:
			t.Stop()
		}
	}
}

// failoverOutage returns the longest outage that overlaps a failover
// (from the request to the old primary's stop).
func failoverOutage(events []process.Event, outages []outage) outage {
	var best outage
	for _, e := range events {
		if e.Kind != process.EventFailover {
			continue
		}
		end := e.Time.Add(time.Minute)
		for _, s := range events {
			if s.Kind == process.EventExited && s.Pod == e.Pod {
				end = s.Time
			}
		}
		for _, o := range outages {
			if o.To.After(e.Time) && o.From.Before(end) && o.Gap() > best.Gap() {
				best = o
			}
		}
	}
	return best
}

func phaseOf(st status.Status) string {
	if st.UpgradeStatus == nil {
		return string(st.Phase)
	}
	return fmt.Sprintf("%s/%s", st.Phase, st.UpgradeStatus.Phase)
}

// waitReady polls the driver until n pods are listed and ready.
func waitReady(ctx context.Context, d *process.Driver, n int) error {
	var last []upgrade.Pod
	err := waitFor(ctx, fmt.Sprintf("%d ready members", n), func() bool {
		pods, err := d.Pods(ctx)
		if err != nil {
			return false
		}
		last = pods
		ready := 0
		for _, p := range pods {
			if p.Ready {
				ready++
			}
			if p.Failed != "" {
				return false
			}
		}
		return len(pods) == n && ready == n
	})
	if err != nil {
		return fmt.Errorf("%w; pods: %s", err, describePods(last))
	}
	return nil
}

// waitFor polls cond every 20ms until it holds or ctx ends.
func waitFor(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func describePods(pods []upgrade.Pod) string {
	var parts []string
	for _, p := range pods {
		flags := []string{}
		if p.Ready {
			flags = append(flags, "ready")
		}
		if p.Primary {
			flags = append(flags, "primary")
		}
		if p.Terminating {
			flags = append(flags, "terminating")
		}
		if p.Failed != "" {
			flags = append(flags, "failed: "+p.Failed)
		}
		parts = append(parts, fmt.Sprintf("%s@%s[%s]", p.Name, p.Version, strings.Join(flags, ",")))
	}
	return strings.Join(parts, " ")
}

// report prints the outcome.
func (o outcome) report(w io.Writer, s scenario) {
	fmt.Fprintf(w, "\n--- %s: timeline ---\n", s.Name)
	for _, e := range o.Timeline {
		fmt.Fprintln(w, formatEntry(o.Start, e))
	}
	fmt.Fprintf(w, "\n--- %s: result ---\n", s.Name)
	fmt.Fprintf(w, "writes acknowledged:        %d\n", o.Writes.Acked)
	fmt.Fprintf(w, "writes found afterwards:    %d of the acknowledged ones on the primary (INCR counter %d; keys per member, counter included: %s", o.Audit.Found, o.Audit.Counter, membersText(o.Audit.Members))
	if o.Audit.Extra > 0 {
		fmt.Fprintf(w, "; plus %d write the writer stopped waiting for", o.Audit.Extra)
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "writes lost:                %d", o.Audit.NLost)
	if o.Audit.NLost > 0 {
		fmt.Fprintf(w, " (first: %v)", o.Audit.Lost)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "longest write gap:          %s (time between two acknowledged writes while the upgrade ran)\n", ms(o.Writes.MaxGap))
	if o.FailoverOutage.Gap() > 0 {
		fmt.Fprintf(w, "unavailable during failover: %s (%d failed attempts; first error: %s)\n", ms(o.FailoverOutage.Gap()), o.FailoverOutage.Errors, o.FailoverOutage.First)
	} else {
		fmt.Fprintf(w, "unavailable during failover: none (no write failed)\n")
	}
	fmt.Fprintf(w, "upgrade time:               %s for %d members\n", o.UpgradeTime.Round(time.Millisecond), s.Replicas)
	fmt.Fprintf(w, "final pods:                 %s\n", describePods(o.Pods))
	b, err := yaml.Marshal(o.Status)
	if err != nil {
		fmt.Fprintf(w, "final status: %v\n", err)
		return
	}
	fmt.Fprintf(w, "final status:\n%s", indent(string(b), "  "))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func membersText(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func indent(s, pre string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pre + l
		}
	}
	return strings.Join(lines, "")
}

// exporterPath finds the Redis exporter on PATH.
func exporterPath() (string, error) {
	var errs []error
	for _, name := range []string{"prometheus-redis-exporter", "redis_exporter"} {
		p, err := exec.LookPath(name)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("the Redis exporter is not installed (hack/ensure-redis.sh installs it): %w", errors.Join(errs...))
}

// problems lists what the run got wrong: a lost acknowledged write, a
// primary stopped while it held the role, a member not at the version the
// run should end at, an unexpected final phase.
func (o outcome) problems(s scenario) []string {
	var p []string
	if o.Writes.Acked == 0 {
		p = append(p, "no write was acknowledged")
	}
	if o.Audit.NLost > 0 || o.Audit.Found != o.Writes.Acked {
		p = append(p, fmt.Sprintf("%d acknowledged writes lost (found %d of %d; first %v)", o.Audit.NLost, o.Audit.Found, o.Writes.Acked, o.Audit.Lost))
	}
	wantVersion, wantPhase := s.To, status.UpgradeCompleted
	if s.FailSlot >= 0 {
		wantVersion, wantPhase = s.From, status.UpgradeRolledBack
	}
	if o.Status.UpgradeStatus == nil || o.Status.UpgradeStatus.Phase != wantPhase {
		p = append(p, fmt.Sprintf("final phase %s, want %s", phaseOf(o.Status), wantPhase))
	}
	if o.Status.Phase != status.PhaseRunning || o.Status.CurrentVersion != wantVersion {
		p = append(p, fmt.Sprintf("group phase %s at %q, want Running at %q", o.Status.Phase, o.Status.CurrentVersion, wantVersion))
	}
	primaries := 0
	for _, pod := range o.Pods {
		if pod.Version != wantVersion || !pod.Ready || pod.Terminating {
			p = append(p, fmt.Sprintf("pod %s ends at %s (ready=%t, terminating=%t), want ready at %s", pod.Name, pod.Version, pod.Ready, pod.Terminating, wantVersion))
		}
		if pod.Primary {
			primaries++
		}
	}
	if len(o.Pods) != int(s.Replicas) || primaries != 1 {
		p = append(p, fmt.Sprintf("%d pods with %d primaries at the end, want %d with 1", len(o.Pods), primaries, s.Replicas))
	}
	var during []process.Event
	for _, e := range o.Events {
		if !e.Time.After(o.UpgradeEnd) {
			during = append(during, e)
		}
	}
	p = append(p, primaryStops(during)...)
	if s.FailSlot < 0 && !failedOver(during) {
		p = append(p, "the primary's slot was upgraded without a failover")
	}
	return p
}

// failedOver reports whether a Failover moved the role.
func failedOver(events []process.Event) bool {
	for _, e := range events {
		if e.Kind == process.EventFailoverDone && e.Message == "role moved" {
			return true
		}
	}
	return false
}

// primaryStops lists every pod that was stopped while it held the primary
// role, and every pod failed over after its stop began.
func primaryStops(events []process.Event) []string {
	var p []string
	stopped := map[string]time.Time{}
	for _, e := range events {
		switch e.Kind {
		case process.EventStopping:
			stopped[e.Pod] = e.Time
			if e.Primary {
				p = append(p, fmt.Sprintf("pod %s was stopped while it held the primary role", e.Pod))
			}
		case process.EventFailover:
			if t, ok := stopped[e.Pod]; ok {
				p = append(p, fmt.Sprintf("pod %s was failed over at %s, after its stop began at %s", e.Pod, e.Time.Format(time.StampMicro), t.Format(time.StampMicro)))
			}
		}
	}
	return p
}
