package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rollgate/rollgate/internal/resp"
)

// writeTimeout bounds one write; a primary that does not answer within it
// counts as unavailable and the writer looks for the primary again.
const writeTimeout = 2 * time.Second

// primaryClient talks to whichever member holds the primary role, without
// Sentinel: on any error it asks the members who is primary (ROLE) and
// connects there.
type primaryClient struct {
	// addrs returns the members' addresses now.
	addrs func() []string
	conn  *resp.Conn
}

// connect finds the primary and connects to it.
func (c *primaryClient) connect(ctx context.Context) error {
	c.close()
	var seen []string
	for _, a := range c.addrs() {
		v, err := resp.Command(ctx, a, 300*time.Millisecond, "ROLE")
		if err != nil {
			seen = append(seen, fmt.Sprintf("%s: %v", a, err))
			continue
		}
		arr, ok := v.([]any)
		if !ok || len(arr) == 0 || arr[0] != "master" {
			seen = append(seen, fmt.Sprintf("%s: %v", a, firstOf(v)))
			continue
		}
		conn, err := resp.Dial(ctx, a)
		if err != nil {
			seen = append(seen, fmt.Sprintf("%s: %v", a, err))
			continue
		}
		c.conn = conn
		return nil
	}
	return fmt.Errorf("no primary among the members (%s)", strings.Join(seen, "; "))
}

func firstOf(v any) any {
	if arr, ok := v.([]any); ok && len(arr) > 0 {
		return arr[0]
	}
	return v
}

func (c *primaryClient) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// write does write number n atomically on the primary: SET w:<n> <n> and
// INCR writes in one MULTI/EXEC. It returns nil only when the primary
// acknowledged both. After an error the connection is dropped, so the next
// write looks for the primary again.
func (c *primaryClient) write(ctx context.Context, n int) error {
	if c.conn == nil {
		if err := c.connect(ctx); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	s := strconv.Itoa(n)
	replies, err := c.conn.Pipeline(ctx, [][]string{{"MULTI"}, {"SET", "w:" + s, s}, {"INCR", "writes"}, {"EXEC"}})
	if err != nil {
		c.close()
		return err
	}
	exec := replies[3]
	if e, ok := exec.(resp.Error); ok {
		c.close()
		// A queued command refused (READONLY once the member became a
		// replica) aborts the transaction; say why.
		for _, r := range replies[:3] {
			if qe, ok := r.(resp.Error); ok {
				return fmt.Errorf("%w (%w)", e, qe)
			}
		}
		return e
	}
	arr, ok := exec.([]any)
	if !ok || len(arr) != 2 || arr[0] != "OK" {
		c.close()
		return fmt.Errorf("EXEC answered %v", exec)
	}
	return nil
}

// outage is a stretch of time during which no write was acknowledged
// because writes failed.
type outage struct {
	From, To time.Time // last acknowledged write before, first after
	Errors   int       // failed attempts in between
	First    string    // the first error
}

// Gap is the outage's length.
func (o outage) Gap() time.Duration { return o.To.Sub(o.From) }

// writer sends numbered writes continuously through a primaryClient and
// keeps what it needs for the audit: which numbers were acknowledged, and
// the outages.
type writer struct {
	client   primaryClient
	interval time.Duration // pause between acknowledged writes

	mu      sync.Mutex
	acked   []int
	ackedAt []time.Time // when each was acknowledged
	lastAck time.Time
	outages []outage
	pending *outage
}

// run writes until ctx ends. A failed write is retried, with the same
// number, until it is acknowledged, so the acknowledged numbers are
// 1..len(acked).
func (w *writer) run(ctx context.Context) {
	defer w.client.close()
	n := 1
	for ctx.Err() == nil {
		err := w.client.write(ctx, n)
		now := time.Now()
		if ctx.Err() != nil {
			return // a write cut short by the end is neither acked nor an outage
		}
		w.mu.Lock()
		if err != nil {
			if w.pending == nil {
				w.pending = &outage{From: w.lastAck, First: err.Error()}
			}
			w.pending.Errors++
			w.mu.Unlock()
			pause(ctx, 2*time.Millisecond)
			continue
		}
		if w.pending != nil {
			w.pending.To = now
			w.outages = append(w.outages, *w.pending)
			w.pending = nil
		}
		w.acked = append(w.acked, n)
		w.ackedAt = append(w.ackedAt, now)
		w.lastAck = now
		w.mu.Unlock()
		n++
		pause(ctx, w.interval)
	}
}

func pause(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ackedCount returns how many writes were acknowledged so far.
func (w *writer) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// writeStats is what the writer saw.
type writeStats struct {
	Acked int
	// MaxGap is the longest time between two acknowledged writes around
	// the window stats was asked about (the upgrade), MaxAt when it began.
	MaxGap  time.Duration
	MaxAt   time.Time
	Outages []outage // longest first
}

// stats returns what the writer saw; MaxGap is measured over the gaps that
// overlap [from, to].
func (w *writer) stats(from, to time.Time) writeStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := append([]outage(nil), w.outages...)
	sort.SliceStable(out, func(a, b int) bool { return out[a].Gap() > out[b].Gap() })
	st := writeStats{Acked: len(w.acked), Outages: out}
	for i := 1; i < len(w.ackedAt); i++ {
		a, b := w.ackedAt[i-1], w.ackedAt[i]
		if b.After(from) && a.Before(to) && b.Sub(a) > st.MaxGap {
			st.MaxGap, st.MaxAt = b.Sub(a), a
		}
	}
	return st
}

// audit is what the group holds after the run, checked against the
// acknowledged writes.
type audit struct {
	Found   int            // acknowledged writes present with their value on the primary
	Lost    []int          // acknowledged writes missing (first few)
	NLost   int            // how many
	Counter int64          // the INCR counter (>= acknowledged: a retried write may count twice)
	Extra   int            // numbered writes present that were never acknowledged (cut off at the end)
	Members map[string]int // keys per member (DBSIZE), once replication settled
}

// check reads every acknowledged write back from the primary (MGET in
// batches), then waits for the replicas to acknowledge the primary's
// offset (WAIT) and counts each member's keys.
func (w *writer) check(ctx context.Context, replicas int) (audit, error) {
	w.mu.Lock()
	acked := append([]int(nil), w.acked...)
	w.mu.Unlock()
	var c primaryClient
	c.addrs = w.client.addrs
	var err error
	for attempt := 0; attempt < 100; attempt++ {
		if err = c.connect(ctx); err == nil {
			break
		}
		pause(ctx, 50*time.Millisecond)
	}
	if err != nil {
		return audit{}, fmt.Errorf("audit: %w", err)
	}
	defer c.close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var a audit
	const batch = 1000
	for i := 0; i < len(acked); i += batch {
		keys := []string{"MGET"}
		for _, n := range acked[i:min(i+batch, len(acked))] {
			keys = append(keys, "w:"+strconv.Itoa(n))
		}
		v, err := c.conn.Do(ctx, keys...)
		if err != nil {
			return a, fmt.Errorf("audit: MGET: %w", err)
		}
		vals, ok := v.([]any)
		if !ok || len(vals) != len(keys)-1 {
			return a, fmt.Errorf("audit: MGET answered %T of %d", v, len(vals))
		}
		for j, val := range vals {
			n := acked[i+j]
			if val == strconv.Itoa(n) {
				a.Found++
				continue
			}
			a.NLost++
			if len(a.Lost) < 10 {
				a.Lost = append(a.Lost, n)
			}
		}
	}
	if v, err := c.conn.Do(ctx, "GET", "writes"); err == nil && v != nil {
		s, _ := resp.String(v)
		a.Counter, _ = strconv.ParseInt(s, 10, 64)
	}
	if v, err := c.conn.Do(ctx, "DBSIZE"); err == nil {
		n, _ := v.(int64)
		a.Extra = int(n) - 1 - a.Found // the counter key is not a numbered write
	}
	if replicas > 0 {
		v, err := c.conn.Do(ctx, "WAIT", strconv.Itoa(replicas), "10000")
		if err != nil {
			return a, fmt.Errorf("audit: WAIT: %w", err)
		}
		if got, _ := v.(int64); got < int64(replicas) {
			return a, fmt.Errorf("audit: WAIT: %d of %d replicas acknowledged the primary's writes", got, replicas)
		}
	}
	a.Members = map[string]int{}
	var errs []error
	for _, addr := range c.addrs() {
		v, err := resp.Command(ctx, addr, 2*time.Second, "DBSIZE")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n, _ := v.(int64)
		a.Members[addr] = int(n)
	}
	return a, errors.Join(errs...)
}
