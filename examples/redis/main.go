// Command redis upgrades a real Redis replication group, pod by pod, while a
// client writes to it, with no Kubernetes and nothing mocked.
//
// The group is a primary and two replicas, each a redis-server on its own
// loopback port and data directory with a prometheus-redis-exporter beside
// it, run by rollgate's local-process driver (upgrade/process). The two
// versions are two real Debian builds of the server: bookworm's
// 5:7.0.15-1~deb12u7 and its security update 5:7.0.15-1~deb12u10, unpacked
// side by side under .cache/redis/<version>/ (hack/ensure-redis-debs.sh,
// run here when they are missing).
//
// A writer sends numbered writes (MULTI; SET w:<n> <n>; INCR writes; EXEC)
// continuously through a client that follows the primary: on an error it
// asks the members who is primary and carries on there. Meanwhile the group
// is upgraded with order PrimaryLast, the design's post-upgrade
// verification (`redis-cli ping` answers PONG) and its metrics check
// (redis_up 1, redis_connected_clients >0, from each member's exporter);
// the primary's slot is moved last, after Redis's own FAILOVER handed the
// role to an upgraded replica. The program then prints the timeline, the
// writes acknowledged, found and lost, the longest time without an
// acknowledged write, and the final status.
//
// A second run upgrades a fresh group with a verification that fails on
// the last replica, and shows the automatic rollback restoring the old
// version, again with no acknowledged write lost.
//
//	go run ./examples/redis                  # both runs
//	go run ./examples/redis -run upgrade     # only the upgrade
//	go run ./examples/redis -quiet           # no live timeline
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "redis:", err)
		stop()
		os.Exit(1)
	}
}

// options are the program's flags.
type options struct {
	replicas int
	from, to string
	cache    string
	dir      string
	which    string
	interval time.Duration
	quiet    bool
	method   string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("redis", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.replicas, "replicas", 3, "members of the group (a primary and replicas-1 replicas)")
	fs.StringVar(&o.from, "from", defaultFrom, "Debian version the group starts at")
	fs.StringVar(&o.to, "to", defaultTo, "Debian version to upgrade to")
	fs.StringVar(&o.cache, "cache", "", "directory of unpacked builds, <cache>/<version>/usr/bin/redis-server (default: .cache/redis in the repository)")
	fs.StringVar(&o.dir, "dir", "", "directory for the members' data and logs, kept afterwards (default: a temporary directory, removed)")
	fs.StringVar(&o.which, "run", "all", "which run: all, upgrade or rollback")
	fs.DurationVar(&o.interval, "interval", time.Millisecond, "writer's pause between acknowledged writes")
	fs.BoolVar(&o.quiet, "quiet", false, "do not print the timeline as it happens")
	fs.StringVar(&o.method, "failover", viaFailover, "how the primary role moves: "+viaFailover+" (Redis's FAILOVER command) or "+viaReplicaof+" (CLIENT PAUSE and REPLICAOF choreography)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.replicas < 2 {
		return fmt.Errorf("-replicas %d: a replication group needs at least 2 members", o.replicas)
	}
	if o.method != viaFailover && o.method != viaReplicaof {
		return fmt.Errorf("-failover %q: want %s or %s", o.method, viaFailover, viaReplicaof)
	}
	if o.which != "all" && o.which != "upgrade" && o.which != "rollback" {
		return fmt.Errorf("-run %q: want all, upgrade or rollback", o.which)
	}
	m, err := setup(ctx, o.cache, stderr, o.from, o.to)
	if err != nil {
		return err
	}
	m.method = o.method
	dir := o.dir
	if dir == "" {
		dir, err = os.MkdirTemp("", "rollgate-redis-")
		if err != nil {
			return fmt.Errorf("temporary directory: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	var live io.Writer
	if !o.quiet {
		live = stdout
	}
	runs := []scenario{
		{Name: "upgrade", FailSlot: -1},
		{Name: "rollback", FailSlot: int32(o.replicas - 1)},
	}
	var failed []string
	for _, s := range runs {
		if o.which != "all" && o.which != s.Name {
			continue
		}
		s.Replicas = int32(o.replicas)
		s.From, s.To = o.from, o.to
		s.WriteInterval = o.interval
		s.Dir = filepath.Join(dir, s.Name)
		s.Members = m
		s.Live = live
		s.Timeout = 5 * time.Minute
		if s.FailSlot >= 0 {
			fmt.Fprintf(stdout, "\n=== run %q: upgrade %s → %s, verification fails on slot %d: automatic rollback ===\n", s.Name, s.From, s.To, s.FailSlot)
		} else {
			fmt.Fprintf(stdout, "\n=== run %q: upgrade %d members %s → %s while writing ===\n", s.Name, s.Replicas, s.From, s.To)
		}
		out, err := s.run(ctx)
		out.report(stdout, s)
		if err != nil {
			return fmt.Errorf("run %s: %w", s.Name, err)
		}
		if problems := out.problems(s); len(problems) > 0 {
			for _, p := range problems {
				fmt.Fprintf(stdout, "PROBLEM: %s\n", p)
			}
			failed = append(failed, s.Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("runs with problems: %v", failed)
	}
	return nil
}

// setup finds (or fetches) the two builds and the exporter.
func setup(ctx context.Context, cache string, log io.Writer, versions ...string) (*members, error) {
	root, rootErr := repoRoot()
	if cache == "" {
		cache = os.Getenv("REDIS_DEBS_CACHE") // set by make; see hack/ensure-redis-debs.sh
	}
	if cache == "" {
		if rootErr != nil {
			return nil, fmt.Errorf("no -cache given and %w", rootErr)
		}
		cache = filepath.Join(root, ".cache", "redis")
	}
	exporter, err := exporterPath()
	if err != nil {
		return nil, err
	}
	m := &members{cache: cache, exporter: exporter}
	var missing []string
	for _, v := range versions {
		if _, err := m.bin(v, "redis-server"); err != nil {
			missing = append(missing, v)
		}
	}
	if len(missing) == 0 {
		return m, nil
	}
	if rootErr != nil {
		return nil, fmt.Errorf("builds %v are missing from %s and %w", missing, cache, rootErr)
	}
	script := filepath.Join(root, "hack", "ensure-redis-debs.sh")
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, missing...)...)
	cmd.Env = append(os.Environ(), "REDIS_DEBS_CACHE="+cache)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("fetch redis builds %v with %s: %w", missing, script, err)
	}
	for _, v := range missing {
		if _, err := m.bin(v, "redis-server"); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// repoRoot returns the repository's root: the nearest directory at or
// above the working directory that holds go.mod and hack/.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(dir, "hack", "ensure-redis-debs.sh")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("the working directory is not inside the rollgate repository")
		}
		dir = parent
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
