package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rollgate/rollgate/internal/resp"
	"github.com/rollgate/rollgate/upgrade/process"
)

// The pod's logical ports, as a Kubernetes pod of the group would declare
// them: the server and the exporter's metrics.
const (
	redisPort    int32 = 6379
	exporterPort int32 = 9121
)

// Debian versions of the two server builds: bookworm's release and its
// security update, the monthly patch rollout.
const (
	defaultFrom = "5:7.0.15-1~deb12u7"
	defaultTo   = "5:7.0.15-1~deb12u10"
)

// failoverWait bounds how long Failover waits for the role to move.
const failoverWait = 15 * time.Second

// members is the Redis side of the process driver: how to start a member at
// a version, how to tell it is ready and primary, how to move the primary
// role.
type members struct {
	// cache holds one directory per version with the unpacked packages
	// (<cache>/<version>/usr/bin/redis-server).
	cache string
	// exporter is the path of prometheus-redis-exporter.
	exporter string
	// method is how the primary role moves: viaFailover or viaReplicaof.
	method string
}

// bin returns the path of a binary of version, or an error that says how to
// get it.
func (m *members) bin(version, name string) (string, error) {
	p := filepath.Join(m.cache, version, "usr", "bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("redis %s is not unpacked in %s (run hack/ensure-redis-debs.sh %s): %w", version, m.cache, version, err)
	}
	return p, nil
}

// config returns the process driver's configuration for a group named name
// whose incarnations live under dir.
func (m *members) config(name, dir string) process.Config {
	return process.Config{
		Name:         name,
		Dir:          dir,
		Ports:        []int32{redisPort, exporterPort},
		DefaultPort:  exporterPort,
		Spawn:        m.spawn,
		Probe:        probe,
		Failover:     m.failover,
		Grace:        10 * time.Second,
		ProbeTimeout: time.Second,
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// spawn starts redis-server at the incarnation's version on its own port
// and data directory, as a replica of the group's primary when there is
// one, with a prometheus-redis-exporter beside it; it puts a `redis-cli`
// for this instance in the incarnation's bin directory, so the design's
// `redis-cli ping` runs against it.
func (m *members) spawn(_ context.Context, inst process.Instance, others []process.Member) ([]*exec.Cmd, error) {
	server, err := m.bin(inst.Version, "redis-server")
	if err != nil {
		return nil, err
	}
	cli, err := m.bin(inst.Version, "redis-cli")
	if err != nil {
		return nil, err
	}
	var primary *process.Member
	for i := range others {
		if others[i].Primary {
			primary = &others[i]
			break
		}
	}
	if primary == nil && len(others) > 0 {
		var seen []string
		for _, o := range others {
			seen = append(seen, fmt.Sprintf("%s (%s)", o.Name, o.Detail))
		}
		return nil, fmt.Errorf("no member holds the primary role to replicate from: %s", strings.Join(seen, ", "))
	}
	data := filepath.Join(inst.Dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %s -h 127.0.0.1 -p %d \"$@\"\n", shellQuote(cli), inst.Port(redisPort))
	if err := os.WriteFile(filepath.Join(inst.BinDir, "redis-cli"), []byte(wrapper), 0o755); err != nil {
		return nil, fmt.Errorf("write redis-cli wrapper: %w", err)
	}
	args := []string{
		"--port", strconv.Itoa(inst.Port(redisPort)),
		"--bind", "127.0.0.1",
		"--protected-mode", "no",
		"--daemonize", "no",
		"--dir", data,
		"--save", "",
		"--appendonly", "no",
		// Full syncs straight over the socket, at once.
		"--repl-diskless-sync", "yes",
		"--repl-diskless-sync-delay", "0",
		"--repl-diskless-load", "disabled",
	}
	if primary != nil {
		args = append(args, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port(redisPort)))
	}
	srv := exec.Command(server, args...)
	exp := exec.Command(m.exporter,
		"--redis.addr", "redis://"+inst.Addr(redisPort),
		"--web.listen-address", inst.Addr(exporterPort),
		"--redis-only-metrics",
		"--connection-timeout", "2s",
	)
	return []*exec.Cmd{srv, exp}, nil
}

// replication is what INFO replication says of a member.
type replication struct {
	role       string // master or slave
	masterPort int
	linkUp     bool
	syncing    bool
	offset     int64 // slave_repl_offset (replica) or master_repl_offset
	failover   string
}

func infoReplication(ctx context.Context, c *resp.Conn) (replication, error) {
	v, err := c.Do(ctx, "INFO", "replication")
	if err != nil {
		return replication{}, err
	}
	s, err := resp.String(v)
	if err != nil {
		return replication{}, err
	}
	f := resp.Info(s)
	r := replication{role: f["role"], linkUp: f["master_link_status"] == "up", syncing: f["master_sync_in_progress"] == "1", failover: f["master_failover_state"]}
	r.masterPort, _ = strconv.Atoi(f["master_port"])
	off := f["master_repl_offset"]
	if r.role == "slave" {
		off = f["slave_repl_offset"]
	}
	r.offset, _ = strconv.ParseInt(off, 10, 64)
	if r.role == "" {
		return r, fmt.Errorf("INFO replication has no role: %q", s)
	}
	return r, nil
}

func dialInfo(ctx context.Context, addr string) (replication, error) {
	c, err := resp.Dial(ctx, addr)
	if err != nil {
		return replication{}, err
	}
	defer c.Close()
	return infoReplication(ctx, c)
}

// probe: ready when the server answers PING, a replica's link to its
// primary is up (master_link_status:up, no sync in progress), and the
// exporter accepts connections; primary when INFO replication says
// role:master.
func probe(ctx context.Context, inst process.Instance) (process.State, error) {
	c, err := resp.Dial(ctx, inst.Addr(redisPort))
	if err != nil {
		return process.State{}, err
	}
	defer c.Close()
	pong, err := c.Do(ctx, "PING")
	if err != nil {
		return process.State{}, fmt.Errorf("PING: %w", err)
	}
	if pong != "PONG" {
		return process.State{}, fmt.Errorf("PING answered %v", pong)
	}
	r, err := infoReplication(ctx, c)
	if err != nil {
		return process.State{}, err
	}
	st := process.State{Primary: r.role == "master"}
	switch {
	case r.role == "slave" && (!r.linkUp || r.syncing):
		st.Detail = fmt.Sprintf("replica of port %d, master_link_status down", r.masterPort)
		return st, nil
	case r.role == "slave":
		st.Detail = fmt.Sprintf("replica of port %d, offset %d", r.masterPort, r.offset)
	default:
		st.Detail = fmt.Sprintf("primary, offset %d", r.offset)
	}
	var d net.Dialer
	e, err := d.DialContext(ctx, "tcp", inst.Addr(exporterPort))
	if err != nil {
		st.Detail += "; exporter not listening"
		return st, nil
	}
	_ = e.Close()
	st.Ready = true
	return st, nil
}

// Failover methods.
const (
	// viaFailover uses Redis's FAILOVER command: the primary pauses
	// writes, waits until the chosen replica acknowledged its offset
	// (replicas acknowledge once a second), then swaps the roles.
	viaFailover = "command"
	// viaReplicaof does the same with REPLICAOF choreography: CLIENT PAUSE
	// WRITE on the primary, wait until the replica's own offset reached the
	// primary's, REPLICAOF NO ONE on it, REPLICAOF on the old primary,
	// unpause. It needs no acknowledgement round, so the pause is shorter.
	viaReplicaof = "replicaof"
)

// candidate is a replica that could take the primary role.
type candidate struct {
	m process.Member
	r replication
}

// chooseReplica picks the most advanced replica of primary (highest
// slave_repl_offset) whose link is up, or says why there is none. Between
// equals it keeps the role in the primary's slot, then takes the lowest
// slot.
func chooseReplica(ctx context.Context, primary process.Member, others []process.Member) (candidate, error) {
	pport := primary.Port(redisPort)
	var cands []candidate
	var refused []string
	for _, o := range others {
		r, err := dialInfo(ctx, o.Addr(redisPort))
		switch {
		case err != nil:
			refused = append(refused, fmt.Sprintf("%s: %v", o.Name, err))
		case r.role != "slave" || r.masterPort != pport:
			refused = append(refused, fmt.Sprintf("%s: not a replica of %s", o.Name, primary.Name))
		case !r.linkUp || r.syncing:
			refused = append(refused, fmt.Sprintf("%s: master_link_status down", o.Name))
		default:
			cands = append(cands, candidate{o, r})
		}
	}
	if len(cands) == 0 {
		return candidate{}, fmt.Errorf("no replica of %s can take the primary role (%s)", primary.Name, strings.Join(refused, "; "))
	}
	sort.SliceStable(cands, func(a, b int) bool {
		x, y := cands[a], cands[b]
		if x.r.offset != y.r.offset {
			return x.r.offset > y.r.offset
		}
		if (x.m.Index == primary.Index) != (y.m.Index == primary.Index) {
			return x.m.Index == primary.Index
		}
		return x.m.Index < y.m.Index
	})
	return cands[0], nil
}

// failover moves the primary role to the most advanced replica whose link
// is up (refusing when there is none), by the members' method, waits
// until both sides show the swap, then points the other replicas at the
// new primary (they would otherwise stay chained behind the old one, which
// is about to stop).
func (m *members) failover(ctx context.Context, primary process.Member, others []process.Member) error {
	ctx, cancel := context.WithTimeout(ctx, failoverWait)
	defer cancel()
	c, err := chooseReplica(ctx, primary, others)
	if err != nil {
		return err
	}
	target := c.m
	tport := target.Port(redisPort)
	if m.method == viaReplicaof {
		err = promoteByReplicaof(ctx, primary, target)
	} else {
		err = promoteByFailover(ctx, primary, target)
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range others {
		if o.Name == target.Name {
			continue
		}
		if _, err := resp.Command(ctx, o.Addr(redisPort), 2*time.Second, "REPLICAOF", "127.0.0.1", strconv.Itoa(tport)); err != nil {
			errs = append(errs, fmt.Errorf("point %s at the new primary %s: %w", o.Name, target.Name, err))
		}
	}
	return errors.Join(errs...)
}

// promoteByFailover sends FAILOVER TO the target and waits until the
// target is primary and the old primary its replica.
func promoteByFailover(ctx context.Context, primary, target process.Member) error {
	tport := target.Port(redisPort)
	if _, err := resp.Command(ctx, primary.Addr(redisPort), 2*time.Second,
		"FAILOVER", "TO", "127.0.0.1", strconv.Itoa(tport), "TIMEOUT", "10000"); err != nil {
		return fmt.Errorf("FAILOVER TO %s (port %d) on %s: %w", target.Name, tport, primary.Name, err)
	}
	var last string
	for {
		t, terr := dialInfo(ctx, target.Addr(redisPort))
		p, perr := dialInfo(ctx, primary.Addr(redisPort))
		if terr == nil && perr == nil && t.role == "master" && p.role == "slave" && p.masterPort == tport {
			return nil
		}
		if perr == nil && p.role == "master" && p.failover == "no-failover" && t.role == "slave" {
			return fmt.Errorf("FAILOVER to %s was aborted (the replica did not catch up in time)", target.Name)
		}
		last = fmt.Sprintf("target role %q (%v), old primary role %q failover state %q (%v)", t.role, terr, p.role, p.failover, perr)
		select {
		case <-ctx.Done():
			return fmt.Errorf("role did not move to %s within %s: %s", target.Name, failoverWait, last)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// promoteByReplicaof pauses writes on the primary, waits until the
// target's own replication offset reached the primary's, promotes the
// target, makes the old primary its replica and lifts the pause: no write
// the old primary acknowledged is missing on the new one, and the writes
// held by the pause are refused (READONLY) once it is lifted.
func promoteByReplicaof(ctx context.Context, primary, target process.Member) (err error) {
	tport := target.Port(redisPort)
	pc, err := resp.Dial(ctx, primary.Addr(redisPort))
	if err != nil {
		return err
	}
	defer pc.Close()
	// The pause lifts itself after 10s should this program die midway.
	if _, err := pc.Do(ctx, "CLIENT", "PAUSE", "10000", "WRITE"); err != nil {
		return fmt.Errorf("CLIENT PAUSE on %s: %w", primary.Name, err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if _, uerr := pc.Do(uctx, "CLIENT", "UNPAUSE"); uerr != nil && err == nil {
			err = fmt.Errorf("CLIENT UNPAUSE on %s: %w", primary.Name, uerr)
		}
	}()
	p, err := infoReplication(ctx, pc)
	if err != nil {
		return fmt.Errorf("offset of %s: %w", primary.Name, err)
	}
	if p.role != "master" {
		return fmt.Errorf("%s is no longer primary (role %s)", primary.Name, p.role)
	}
	tc, err := resp.Dial(ctx, target.Addr(redisPort))
	if err != nil {
		return err
	}
	defer tc.Close()
	caught := false
	var t replication
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if t, err = infoReplication(ctx, tc); err != nil {
			return fmt.Errorf("offset of %s: %w", target.Name, err)
		}
		if t.role == "slave" && t.linkUp && t.offset >= p.offset {
			caught = true
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to catch up: %w", target.Name, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	if !caught {
		return fmt.Errorf("%s did not reach the primary's offset %d within 5s (at %d, link up %t)", target.Name, p.offset, t.offset, t.linkUp)
	}
	if _, err := tc.Do(ctx, "REPLICAOF", "NO", "ONE"); err != nil {
		return fmt.Errorf("REPLICAOF NO ONE on %s: %w", target.Name, err)
	}
	if _, err := pc.Do(ctx, "REPLICAOF", "127.0.0.1", strconv.Itoa(tport)); err != nil {
		return fmt.Errorf("REPLICAOF %s on the old primary %s (both are primary now): %w", target.Name, primary.Name, err)
	}
	return nil
}
