package upgradetest

import "time"

// NextEvent returns the earliest time after the clock's now at which what
// Pods shows may change by itself: a pod becoming Ready (its start delay
// passing), a terminating pod going away, a FailPods reason or a readiness
// override taking effect, a pending failover moving the role, or (with
// SetLag) a past change reaching the lagged view. ok is false when nothing
// is scheduled: the view stays as it is until someone calls the driver.
//
// A real controller is woken by the watch events of these changes; a
// simulation in fake time steps the clock to the earlier of NextEvent and
// the Upgrader's Result.RequeueAfter, so that it neither misses an event
// nor polls.
func (d *Driver) NextEvent() (at time.Time, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	consider := func(t time.Time) {
		if t.After(now) && (!ok || t.Before(at)) {
			at, ok = t, true
		}
	}
	if d.lag <= 0 {
		d.stateEvents(&d.st, consider)
		return at, ok
	}
	// The lagged view shows the truth of lag ago: a change at t reaches
	// it at t+lag, whether it was a write (a snapshot) or timed.
	for i := range d.history {
		consider(d.history[i].at.Add(d.lag))
		d.stateEvents(&d.history[i].st, func(t time.Time) { consider(t.Add(d.lag)) })
	}
	return at, ok
}

// stateEvents calls consider with every time at which st's evaluation
// changes by itself. The caller holds d.mu.
func (d *Driver) stateEvents(st *state, consider func(time.Time)) {
	for i := range st.pods {
		ps := &st.pods[i]
		p := &ps.pod
		if !ps.seeded && ps.readyDelay >= 0 {
			consider(p.Created.Add(ps.readyDelay))
		}
		if ps.deleted {
			consider(ps.deletedAt)
			if !ps.goneAt.IsZero() {
				consider(ps.goneAt)
			}
		}
		for _, o := range ps.overrides {
			consider(o.at)
		}
		for _, r := range d.rules {
			if r.reason != "" && d.ruleApplies(r, *p) {
				consider(p.Created.Add(r.after))
			}
		}
	}
	if f := st.failover; f != nil {
		consider(f.at)
	}
}
