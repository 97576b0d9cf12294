// Command canary upgrades a five-pod group on rollgate's in-memory driver in
// simulated time and prints a timeline: a canary on the highest index, the
// pause at the partition, the promotion, then a second upgrade whose
// verification fails on one pod and is rolled back automatically. It ends
// with the group's status as YAML.
//
//	go run ./examples/canary
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/yaml"

	"github.com/rollgate/rollgate/partition"
	"github.com/rollgate/rollgate/status"
	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/upgrade/upgradetest"
	"github.com/rollgate/rollgate/verify"
)

// The spec: the design's example 3.1 with a canary partition (design 4.3)
// and a per-pod timeout of two minutes.
const specYAML = `
rollingUpdate:
  maxSurge: 1
  maxUnavailable: 0
  partition: 4        # canary: only the highest index (partition.Canary(5, 1))
  timeout: 120s
preUpgradeCheck:
  enabled: true
  type: health-check
  timeout: 30s
postUpgradeVerify:
  enabled: true
  type: exec
  command: redis-cli ping
  expected: PONG
  failureThreshold: 2
  interval: 5s
rollback:
  enabled: true
  onFailure: true
  limit: 3
`

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "canary:", err)
		os.Exit(1)
	}
}

// timeline prints events with the simulated time since the start.
type timeline struct {
	w     io.Writer
	clock *clocktesting.FakeClock
	start time.Time
}

func (t *timeline) Notify(_ context.Context, e upgrade.Event) {
	mark := " "
	if e.Warning {
		mark = "!"
	}
	fmt.Fprintf(t.w, "%s %s %-20s %s\n", t.stamp(), mark, e.Reason, e.Message)
}

func (t *timeline) stamp() string {
	d := t.clock.Since(t.start).Round(time.Second)
	return fmt.Sprintf("[%02d:%02d]", int(d.Minutes()), int(d.Seconds())%60)
}

func (t *timeline) say(format string, args ...any) {
	fmt.Fprintf(t.w, "%s   %s\n", t.stamp(), fmt.Sprintf(format, args...))
}

func run(w io.Writer) error {
	ctx := context.Background()
	clock := clocktesting.NewFakeClock(time.Date(2025, 1, 19, 10, 0, 0, 0, time.UTC))
	tl := &timeline{w: w, clock: clock, start: clock.Now()}

	// Pods take 8 s to become ready and 2 s to terminate. Version 7.4.2 of
	// slot 1 answers the exec check with LOADING: its verification fails.
	driver := upgradetest.NewDriver(clock,
		upgradetest.WithName("redis"),
		upgradetest.WithReplicas(5, "7.4"),
		upgradetest.WithStartDelay(func(int32, string) time.Duration { return 8 * time.Second }),
		upgradetest.WithTerminationDelay(func(upgrade.Pod) time.Duration { return 2 * time.Second }),
		upgradetest.WithExec(func(t verify.Target, command string) (string, error) {
			if t.Version == "7.4.2" && t.Index == 1 {
				return "LOADING Redis is loading the dataset in memory", nil
			}
			return "PONG", nil
		}),
	)
	spec, err := upgrade.ParseSpec([]byte(specYAML))
	if err != nil {
		return err
	}
	st := &status.Status{}
	replicas := int32(5)

	// drive runs Steps until the Upgrader reports Done, moving simulated
	// time by what each Step asks for.
	drive := func(version string) error {
		u, err := upgrade.New(driver, spec, upgrade.WithClock(clock), upgrade.WithNotifier(tl))
		if err != nil {
			return err
		}
		for i := 0; i < 10000; i++ {
			res, err := u.Step(ctx, st, upgrade.Desired{Version: version, Replicas: replicas})
			if err != nil {
				return err
			}
			if res.Done {
				return nil
			}
			clock.Step(res.RequeueAfter)
		}
		return fmt.Errorf("no end after 10000 steps")
	}

	fmt.Fprintln(w, "== 1. canary: upgrade 7.4 -> 7.4.1 with partition 4 (only redis-4)")
	u, err := upgrade.New(driver, spec, upgrade.WithClock(clock))
	if err != nil {
		return err
	}
	plan, err := u.Plan(ctx, st, upgrade.Desired{Version: "7.4.1", Replicas: replicas})
	if err != nil {
		return err
	}
	fmt.Fprint(w, indent("dry run: ", plan.String()))
	if err := drive("7.4.1"); err != nil {
		return err
	}
	tl.say("phase %s / %s: %s", st.Phase, st.UpgradeStatus.Phase, st.UpgradeStatus.Message)
	tl.say("pods: %s", versions(driver))

	fmt.Fprintln(w, "\n== 2. promote: lower the partition to 0")
	clock.Step(5 * time.Minute) // the canary soaks
	zero := partition.Canary(replicas, replicas)
	spec.RollingUpdate.Partition = &zero
	if err := drive("7.4.1"); err != nil {
		return err
	}
	tl.say("phase %s / %s, currentVersion %s", st.Phase, st.UpgradeStatus.Phase, st.CurrentVersion)
	tl.say("pods: %s", versions(driver))

	fmt.Fprintln(w, "\n== 3. upgrade 7.4.1 -> 7.4.2: redis-1's verification fails, automatic rollback")
	clock.Step(10 * time.Minute)
	if err := drive("7.4.2"); err != nil {
		return err
	}
	tl.say("phase %s / %s, currentVersion %s, rollbackCount %d", st.Phase, st.UpgradeStatus.Phase, st.CurrentVersion, st.RollbackCount)
	tl.say("pods: %s", versions(driver))

	fmt.Fprintln(w, "\n== final status")
	out, err := yaml.Marshal(struct {
		Status *status.Status `json:"status"`
	}{st})
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

func versions(d *upgradetest.Driver) string {
	var parts []string
	for _, p := range d.Truth() {
		if !p.Terminating {
			parts = append(parts, fmt.Sprintf("%s=%s", p.Name, p.Version))
		}
	}
	return strings.Join(parts, " ")
}

func indent(prefix, s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if i == 0 {
			lines[i] = prefix + l
		} else {
			lines[i] = strings.Repeat(" ", len(prefix)) + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
