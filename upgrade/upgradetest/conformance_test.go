package upgradetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rollgate/rollgate/upgrade"
)

func harness(d *Driver) Harness {
	return Harness{Replicas: d.Replicas(), Version: "v1", NewVersion: "v2",
		Advance: func() { d.Clock().Step(time.Second) }, Attempts: 60}
}

func TestPodDriverConformance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []Option
		setup func(d *Driver)
	}{
		{name: "instant"},
		{name: "slow", opts: []Option{
			WithStartDelay(func(index int32, version string) time.Duration { return 5 * time.Second }),
			WithTerminationDelay(func(upgrade.Pod) time.Duration { return 3 * time.Second }),
			WithFailoverDelay(2 * time.Second),
		}},
		{name: "lagging view", opts: []Option{
			WithStartDelay(func(index int32, version string) time.Duration { return 2 * time.Second }),
			WithTerminationDelay(func(upgrade.Pod) time.Duration { return 2 * time.Second }),
		}, setup: func(d *Driver) { d.SetLag(3 * time.Second) }},
		{name: "single replica", opts: []Option{WithReplicas(1, "v1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDriver(newClock(), append([]Option{WithName("db"), WithReplicas(3, "v1")}, tc.opts...)...)
			if tc.setup != nil {
				tc.setup(d)
			}
			TestPodDriver(t, d, harness(d))
			if got := d.Versions(); len(got) != int(d.Replicas()) || got[d.Replicas()-1] != "v1" {
				t.Errorf("group not restored: %v", got)
			}
		})
	}
	t.Run("without failover", func(t *testing.T) {
		d := NewDriver(newClock(), WithReplicas(2, "v1"))
		TestPodDriver(t, d.WithoutFailover(), harness(d))
	})
}

// Broken drivers: each breaks one promise of upgrade.PodDriver.

type ignoresUID struct{ *Driver }

func (b ignoresUID) Delete(ctx context.Context, p upgrade.Pod) error {
	cur, ok := b.Pod(p.Name)
	if !ok {
		return nil
	}
	return b.Driver.Delete(ctx, cur)
}

type goneIsError struct{ *Driver }

func (b goneIsError) Delete(ctx context.Context, p upgrade.Pod) error {
	if cur, ok := b.Pod(p.Name); !ok || cur.UID != p.UID || cur.Terminating {
		return errors.New("not found")
	}
	return b.Driver.Delete(ctx, p)
}

type surgeReplaces struct{ *Driver }

func (b surgeReplaces) Create(ctx context.Context, index int32, version string, surge bool) error {
	if surge {
		for _, p := range b.Truth() {
			if p.Index == index {
				if err := b.Driver.Delete(ctx, p); err != nil {
					return err
				}
			}
		}
	}
	return b.Driver.Create(ctx, index, version, surge)
}

type deleteIgnored struct{ *Driver }

func (deleteIgnored) Delete(context.Context, upgrade.Pod) error { return nil }

type noUIDs struct{ *Driver }

func (b noUIDs) Pods(ctx context.Context) ([]upgrade.Pod, error) {
	pods, err := b.Driver.Pods(ctx)
	for i := range pods {
		pods[i].UID = ""
	}
	return pods, err
}

type failoverNoop struct{ *Driver }

func (failoverNoop) Failover(context.Context, upgrade.Pod) error { return nil }

type resurrects struct {
	*Driver
	calls *int
}

// Pods flips between showing terminating pods as such and as running.
func (b resurrects) Pods(ctx context.Context) ([]upgrade.Pod, error) {
	pods, err := b.Driver.Pods(ctx)
	*b.calls++
	for i := range pods {
		pods[i].Terminating = pods[i].Terminating && *b.calls%2 == 0
	}
	return pods, err
}

func TestPodDriverCatchesBrokenDrivers(t *testing.T) {
	slow := []Option{
		WithName("db"), WithReplicas(3, "v1"),
		WithStartDelay(func(int32, string) time.Duration { return 2 * time.Second }),
		WithTerminationDelay(func(upgrade.Pod) time.Duration { return 2 * time.Second }),
	}
	for _, tc := range []struct {
		name string
		wrap func(d *Driver) upgrade.PodDriver
		want string
	}{
		{"delete ignores the UID", func(d *Driver) upgrade.PodDriver { return ignoresUID{d} },
			`DeleteStaleUID: Delete of pod "db-2" with stale UID "uid-3-stale" deleted the current pod`},
		{"gone pod is an error", func(d *Driver) upgrade.PodDriver { return goneIsError{d} },
			`DeleteAndRecreate: Delete of terminating pod "db-2": not found`},
		{"surge replaces", func(d *Driver) upgrade.PodDriver { return surgeReplaces{d} },
			`Surge: a ready surge pod at v1 beside pod "db-2": a surge Create stopped the slot's pod "db-2"`},
		{"delete ignored", func(d *Driver) upgrade.PodDriver { return deleteIgnored{d} },
			`DeleteAndRecreate: deleted pod "db-2" listed as terminating or gone: not seen after 60 polls`},
		{"no UIDs", func(d *Driver) upgrade.PodDriver { return noUIDs{d} },
			`Pods: pod "db-0" has no UID`},
		{"failover does nothing", func(d *Driver) upgrade.PodDriver { return failoverNoop{d} },
			`Failover: pod "db-0" without the primary role: not seen after 60 polls`},
		{"terminating flickers", func(d *Driver) upgrade.PodDriver { return resurrects{d, new(int)} },
			`DeleteAndRecreate: deleted pod "db-2" gone: deleted pod "db-2" (uid-3) is listed as running again`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDriver(newClock(), slow...)
			s, err := newSuite(t.Context(), tc.wrap(d), harness(d))
			if err != nil {
				t.Fatal(err)
			}
			err = s.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("suite said %v\nwant an error containing %s", err, tc.want)
			}
		})
	}
}

func TestPodDriverHarnessValidation(t *testing.T) {
	d := NewDriver(nil, WithReplicas(2, "v1"))
	for _, h := range []Harness{
		{Replicas: 0, Version: "v1", NewVersion: "v2", Advance: func() {}},
		{Replicas: 2, Version: "v1", NewVersion: "v1", Advance: func() {}},
		{Replicas: 2, Version: "v1", NewVersion: "v2"},
	} {
		if _, err := newSuite(t.Context(), d, h); err == nil {
			t.Errorf("harness %+v accepted", h)
		}
	}
	if _, err := newSuite(t.Context(), nil, harness(d)); err == nil {
		t.Error("nil driver accepted")
	}
}
