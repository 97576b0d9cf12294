package process

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rollgate/rollgate/upgrade"
	"github.com/rollgate/rollgate/verify"
)

// Defaults of Config.
const (
	DefaultGrace        = 10 * time.Second
	DefaultProbeTimeout = time.Second
)

// Instance is one incarnation of a pod: what Spawn, Probe and Failover are
// given. It is a value; its Ports map must not be modified.
type Instance struct {
	// Name is unique per incarnation: <Config.Name>-<index>-<generation>.
	Name string
	// UID is unique per incarnation, also across drivers.
	UID string
	// Index is the slot.
	Index int32
	// Version is the version the incarnation was created with.
	Version string
	// Created is when its processes were started.
	Created time.Time
	// Dir is the incarnation's own directory (data, logs); it exists.
	Dir string
	// BinDir is a directory of the incarnation that Exec puts first in PATH;
	// Spawn may put wrapper scripts there (a `redis-cli` that talks to this
	// instance). It exists.
	BinDir string
	// Ports maps each logical port of Config.Ports to the loopback port
	// this incarnation listens on.
	Ports map[int32]int
}

// Port returns the loopback port for the logical port, or 0 if the pod
// declares no such port.
func (i Instance) Port(logical int32) int { return i.Ports[logical] }

// Addr returns "127.0.0.1:<port>" for the logical port.
func (i Instance) Addr(logical int32) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(i.Ports[logical]))
}

// State is what a probe observed of an incarnation.
type State struct {
	// Ready: the incarnation serves.
	Ready bool
	// Primary: it holds the primary role.
	Primary bool
	// Detail says why it is not ready, or anything worth showing.
	Detail string
}

// Member is an incarnation together with what the driver last observed of
// it.
type Member struct {
	Instance
	State
	// Terminating is true once its deletion was asked for.
	Terminating bool
}

// SpawnFunc returns the commands of a new incarnation, main process first
// (the pod fails when it exits), then sidecars. members are the group's
// other incarnations that are running and not terminating, probed just
// before. The commands must not be started; the driver starts them in their
// own process group, in inst.Dir unless Cmd.Dir is set, and sends their
// output to <inst.Dir>/<n>.log unless Cmd.Stdout / Cmd.Stderr are set.
type SpawnFunc func(ctx context.Context, inst Instance, members []Member) ([]*exec.Cmd, error)

// ProbeFunc observes one incarnation. An error means not ready (the error
// becomes the State's Detail).
type ProbeFunc func(ctx context.Context, inst Instance) (State, error)

// FailoverFunc moves the primary role away from primary to one of others
// (the group's other running, non-terminating incarnations, probed just
// before). It should return once the role has moved, or with an error that
// says why it could not.
type FailoverFunc func(ctx context.Context, primary Member, others []Member) error

// EventKind names what happened to a pod.
type EventKind string

// Event kinds.
const (
	EventCreated      EventKind = "Created"      // processes started
	EventReady        EventKind = "Ready"        // first observed ready
	EventStopping     EventKind = "Stopping"     // SIGTERM sent (Delete)
	EventKilled       EventKind = "Killed"       // SIGKILL sent after the grace period
	EventExited       EventKind = "Exited"       // every process of the pod is gone
	EventCrashed      EventKind = "Crashed"      // a process exited by itself
	EventFailover     EventKind = "Failover"     // Failover asked
	EventFailoverDone EventKind = "FailoverDone" // Failover returned
)

// Event is one thing the driver did or observed, for timelines and
// assertions.
type Event struct {
	// Time is when it happened.
	Time time.Time
	// Kind says what happened.
	Kind EventKind
	// Pod names the incarnation, Index its slot, Version its version.
	Pod     string
	Index   int32
	Version string
	// Primary: for Stopping, whether the pod held the primary role when its
	// stop began (probed right before SIGTERM); for Failover, always true.
	Primary bool
	// Message gives details (the error of a failed Failover, the exit
	// status...).
	Message string
}

// Config describes the group the driver runs.
type Config struct {
	// Name prefixes pod names (required).
	Name string
	// Dir holds one directory per incarnation (required; it is created).
	Dir string
	// Ports are the pod's logical ports; each incarnation gets a free
	// loopback port for each.
	Ports []int32
	// DefaultPort is the logical port Get uses when asked for port 0
	// (default: the first of Ports).
	DefaultPort int32
	// Spawn builds the processes of an incarnation (required).
	Spawn SpawnFunc
	// Probe observes an incarnation (required).
	Probe ProbeFunc
	// Failover moves the primary role (optional: without it, Failover
	// fails).
	Failover FailoverFunc
	// Grace is how long a stopped process may take to exit after SIGTERM
	// before it is killed (default DefaultGrace).
	Grace time.Duration
	// ProbeTimeout bounds each probe (default DefaultProbeTimeout).
	ProbeTimeout time.Duration
	// ExecEnv, when set, returns extra environment variables (KEY=value)
	// for Exec in an incarnation.
	ExecEnv func(inst Instance) []string
	// OnEvent, when set, receives every Event. It is called without the
	// driver's lock held, possibly from the driver's goroutines; it must
	// not block for long.
	OnEvent func(Event)
}

// Driver runs a group's pods as local processes. It implements
// upgrade.PodDriver, upgrade.Failoverer and verify.PodAccess, and is safe for
// concurrent use. Close stops every process it started.
type Driver struct {
	cfg Config

	mu     sync.Mutex
	gen    int
	insts  map[string]*incarnation // by name
	closed bool
	wg     sync.WaitGroup
}

var (
	_ upgrade.PodDriver  = (*Driver)(nil)
	_ upgrade.Failoverer = (*Driver)(nil)
	_ verify.PodAccess   = (*Driver)(nil)
)

type incarnation struct {
	Instance
	procs       []*proc
	terminating bool
	wasReady    bool
	crashed     string        // why a process exited by itself
	gone        chan struct{} // closed once every process exited
	removed     bool          // taken out of the driver's list
}

// removeIfGone takes a terminating incarnation whose processes have all
// exited out of the list; it reports whether it did so now. d.mu must be
// held.
func (d *Driver) removeIfGone(in *incarnation) bool {
	if !in.terminating || in.removed {
		return false
	}
	select {
	case <-in.gone:
	default:
		return false
	}
	in.removed = true
	delete(d.insts, in.Name)
	return true
}

type proc struct {
	cmd  *exec.Cmd
	name string
	done chan struct{}
	err  error // valid after done
	log  *os.File
}

// New returns a driver for cfg. It starts nothing.
func New(cfg Config) (*Driver, error) {
	if cfg.Name == "" {
		return nil, errors.New("process: Config.Name is empty")
	}
	if cfg.Dir == "" {
		return nil, errors.New("process: Config.Dir is empty")
	}
	if cfg.Spawn == nil || cfg.Probe == nil {
		return nil, errors.New("process: Config.Spawn and Config.Probe are required")
	}
	seen := map[int32]bool{}
	for _, p := range cfg.Ports {
		if p <= 0 || p > 65535 || seen[p] {
			return nil, fmt.Errorf("process: Config.Ports: port %d is out of range or repeated", p)
		}
		seen[p] = true
	}
	if cfg.DefaultPort == 0 && len(cfg.Ports) > 0 {
		cfg.DefaultPort = cfg.Ports[0]
	}
	if cfg.DefaultPort != 0 && !seen[cfg.DefaultPort] {
		return nil, fmt.Errorf("process: Config.DefaultPort %d is not one of Config.Ports", cfg.DefaultPort)
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("process: create %s: %w", cfg.Dir, err)
	}
	return &Driver{cfg: cfg, insts: map[string]*incarnation{}}, nil
}

func (d *Driver) emit(e Event) {
	if d.cfg.OnEvent == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	d.cfg.OnEvent(e)
}

// Instances returns every incarnation that is running or terminating,
// ordered by slot and creation, without probing them. It is cheap and safe
// to call from any goroutine (a client looking for the group's members).
func (d *Driver) Instances() []Instance {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Instance, 0, len(d.insts))
	for _, in := range d.insts {
		out = append(out, in.Instance)
	}
	sortInstances(out)
	return out
}

func sortInstances(out []Instance) {
	sort.Slice(out, func(a, b int) bool {
		if out[a].Index != out[b].Index {
			return out[a].Index < out[b].Index
		}
		if !out[a].Created.Equal(out[b].Created) {
			return out[a].Created.Before(out[b].Created)
		}
		return out[a].Name < out[b].Name
	})
}

// snapshot is an incarnation's bookkeeping copied under the lock.
type snapshot struct {
	inst        Instance
	terminating bool
	crashed     string
	alive       bool // main process still running
}

func (d *Driver) snapshots() []snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]snapshot, 0, len(d.insts))
	for _, in := range d.insts {
		out = append(out, snapshot{inst: in.Instance, terminating: in.terminating, crashed: in.crashed, alive: !in.procs[0].exited()})
	}
	sort.Slice(out, func(a, b int) bool {
		x, y := out[a].inst, out[b].inst
		if x.Index != y.Index {
			return x.Index < y.Index
		}
		if !x.Created.Equal(y.Created) {
			return x.Created.Before(y.Created)
		}
		return x.Name < y.Name
	})
	return out
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// probe observes one incarnation within the probe timeout.
func (d *Driver) probe(ctx context.Context, inst Instance) State {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.ProbeTimeout)
	defer cancel()
	st, err := d.cfg.Probe(ctx, inst)
	if err != nil {
		return State{Detail: err.Error()}
	}
	return st
}

// observe probes every live incarnation concurrently and returns the
// members (terminating ones included, marked) in slot order.
func (d *Driver) observe(ctx context.Context) ([]Member, []snapshot) {
	snaps := d.snapshots()
	members := make([]Member, len(snaps))
	var wg sync.WaitGroup
	for i, s := range snaps {
		members[i] = Member{Instance: s.inst, Terminating: s.terminating}
		if !s.alive || s.crashed != "" {
			members[i].State = State{Detail: s.crashed}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			members[i].State = d.probe(ctx, s.inst)
		}()
	}
	wg.Wait()
	return members, snaps
}

// Pods lists every pod of the group, probing each running incarnation.
// A pod is Ready when its probe says so and it is neither terminating nor
// failed; Failed is set when one of its processes exited by itself.
func (d *Driver) Pods(ctx context.Context) ([]upgrade.Pod, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("process: list pods: %w", err)
	}
	members, snaps := d.observe(ctx)
	pods := make([]upgrade.Pod, len(members))
	var newlyReady []Member
	d.mu.Lock()
	for i, m := range members {
		ready := m.Ready && !m.Terminating && snaps[i].crashed == ""
		pods[i] = upgrade.Pod{
			Index:       m.Index,
			Name:        m.Name,
			Version:     m.Version,
			Ready:       ready,
			Primary:     m.Primary,
			Failed:      snaps[i].crashed,
			Created:     m.Created,
			UID:         m.UID,
			Terminating: m.Terminating,
		}
		if in, ok := d.insts[m.Name]; ok && ready && !in.wasReady {
			in.wasReady = true
			newlyReady = append(newlyReady, m)
		}
	}
	d.mu.Unlock()
	for _, m := range newlyReady {
		role := "replica"
		if m.Primary {
			role = "primary"
		}
		d.emit(Event{Kind: EventReady, Pod: m.Name, Index: m.Index, Version: m.Version, Primary: m.Primary, Message: role})
	}
	return pods, nil
}

// Watch polls Pods every interval until ctx ends and sends on the returned
// channel whenever what it shows changes (a pod added or gone, or its
// Ready, Primary, Terminating or Failed changed), as an informer would
// wake a controller. Notifications coalesce: the channel holds at most one.
func (d *Driver) Watch(ctx context.Context, interval time.Duration) <-chan struct{} {
	ch := make(chan struct{}, 1)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		last := ""
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pods, err := d.Pods(ctx)
			if err != nil {
				continue
			}
			var b strings.Builder
			for _, p := range pods {
				fmt.Fprintf(&b, "%s/%t/%t/%t/%s;", p.UID, p.Ready, p.Primary, p.Terminating, p.Failed)
			}
			if cur := b.String(); cur != last {
				last = cur
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch
}

// Members probes the group and returns its running, non-terminating
// incarnations with what the probes saw, in slot order.
func (d *Driver) Members(ctx context.Context) []Member {
	all, snaps := d.observe(ctx)
	out := make([]Member, 0, len(all))
	for i, m := range all {
		if m.Terminating || !snaps[i].alive || snaps[i].crashed != "" {
			continue
		}
		out = append(out, m)
	}
	return out
}

// Create starts a new incarnation for slot index at version. Without surge
// the slot must have no running, non-terminating pod; with surge it may have
// one, which keeps running beside the new one.
func (d *Driver) Create(ctx context.Context, index int32, version string, surge bool) error {
	if index < 0 {
		return fmt.Errorf("process: create pod for slot %d: negative index", index)
	}
	if version == "" {
		return fmt.Errorf("process: create pod for slot %d: empty version", index)
	}
	members := d.Members(ctx)
	var inSlot []string
	for _, m := range members {
		if m.Index == index {
			inSlot = append(inSlot, m.Name)
		}
	}
	limit := 0
	if surge {
		limit = 1
	}
	if len(inSlot) > limit {
		return fmt.Errorf("process: create pod for slot %d (surge=%t): slot already runs %s", index, surge, strings.Join(inSlot, ", "))
	}

	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return fmt.Errorf("process: create pod for slot %d: driver is closed", index)
	}
	d.gen++
	gen := d.gen
	d.mu.Unlock()

	name := fmt.Sprintf("%s-%d-%d", d.cfg.Name, index, gen)
	inst := Instance{
		Name:    name,
		UID:     fmt.Sprintf("%s-%d-%x", name, os.Getpid(), time.Now().UnixNano()),
		Index:   index,
		Version: version,
		Dir:     filepath.Join(d.cfg.Dir, name),
		Ports:   map[int32]int{},
	}
	inst.BinDir = filepath.Join(inst.Dir, "bin")
	if err := os.MkdirAll(inst.BinDir, 0o755); err != nil {
		return fmt.Errorf("process: create pod %s: %w", name, err)
	}
	ports, err := freePorts(len(d.cfg.Ports))
	if err != nil {
		return fmt.Errorf("process: create pod %s: %w", name, err)
	}
	for i, p := range d.cfg.Ports {
		inst.Ports[p] = ports[i]
	}
	cmds, err := d.cfg.Spawn(ctx, inst, members)
	if err != nil {
		return fmt.Errorf("process: create pod %s at %s: %w", name, version, err)
	}
	if len(cmds) == 0 {
		return fmt.Errorf("process: create pod %s at %s: spawn returned no command", name, version)
	}
	in := &incarnation{Instance: inst, gone: make(chan struct{})}
	inst.Created = time.Now()
	in.Created = inst.Created
	for i, cmd := range cmds {
		p, err := startProc(cmd, inst.Dir, i)
		if err != nil {
			for _, q := range in.procs {
				q.signal(syscall.SIGKILL)
				<-q.done
			}
			return fmt.Errorf("process: create pod %s at %s: %w", name, version, err)
		}
		in.procs = append(in.procs, p)
	}
	d.mu.Lock()
	d.insts[name] = in
	d.mu.Unlock()
	d.wg.Add(1)
	go d.watch(in)
	d.emit(Event{Time: inst.Created, Kind: EventCreated, Pod: name, Index: index, Version: version,
		Message: fmt.Sprintf("ports %v, surge=%t", portList(inst.Ports), surge)})
	return nil
}

func portList(m map[int32]int) string {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d→%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// freePorts returns n distinct loopback ports that are free now. They are
// taken below the kernel's ephemeral range when it leaves room, so that no
// outgoing connection (which takes its local port from that range) and no
// program listening on port 0 can take one before the server binds it;
// otherwise they come from port 0.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	out := make([]int, 0, n)
	lo := ephemeralLow()
	for attempt := 0; len(out) < n && attempt < 200; attempt++ {
		addr := "127.0.0.1:0"
		if lo-minPort >= 1000 {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(minPort+rand.IntN(lo-minPort)))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken: try another
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	if len(out) < n {
		return nil, fmt.Errorf("allocate %d loopback ports: only %d found free", n, len(out))
	}
	return out, nil
}

// minPort is the lowest port freePorts picks.
const minPort = 10000

// ephemeralLow returns the start of the kernel's ephemeral port range
// (Linux), or 0 when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return lo
}

func startProc(cmd *exec.Cmd, dir string, i int) (*proc, error) {
	name := filepath.Base(cmd.Path)
	p := &proc{cmd: cmd, name: name, done: make(chan struct{})}
	if cmd.Dir == "" {
		cmd.Dir = dir
	}
	if cmd.Stdout == nil || cmd.Stderr == nil {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%d-%s.log", i, name)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open log of %s: %w", name, err)
		}
		p.log = f
		if cmd.Stdout == nil {
			cmd.Stdout = f
		}
		if cmd.Stderr == nil {
			cmd.Stderr = f
		}
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	// If the program that owns the driver dies, its servers die with it.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		if p.log != nil {
			_ = p.log.Close()
		}
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		if p.log != nil {
			_ = p.log.Close()
		}
		close(p.done)
	}()
	return p, nil
}

// signal sends sig to the process group of p.
func (p *proc) signal(sig syscall.Signal) {
	if p.cmd.Process == nil || p.exited() {
		return
	}
	// Negative pid: the whole group (children of a server included).
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// watch follows an incarnation until all its processes are gone: a process
// that exits by itself marks the pod Failed; once every process has exited
// after a Delete, the pod is removed.
func (d *Driver) watch(in *incarnation) {
	defer d.wg.Done()
	cases := make(chan *proc, len(in.procs))
	for _, p := range in.procs {
		go func() { <-p.done; cases <- p }()
	}
	for range in.procs {
		p := <-cases
		d.mu.Lock()
		term := in.terminating
		first := in.crashed == ""
		if !term && first {
			in.crashed = fmt.Sprintf("%s exited: %s%s", p.name, exitText(p.err), logTail(p))
		}
		msg := in.crashed
		d.mu.Unlock()
		if !term && first {
			d.emit(Event{Kind: EventCrashed, Pod: in.Name, Index: in.Index, Version: in.Version, Message: msg})
			// A pod is its processes: the others go too (as a pod whose
			// main container died would be restarted as a whole).
			for _, q := range in.procs {
				q.signal(syscall.SIGTERM)
			}
		}
	}
	close(in.gone)
	d.mu.Lock()
	removed := d.removeIfGone(in)
	d.mu.Unlock()
	if removed {
		d.emit(Event{Kind: EventExited, Pod: in.Name, Index: in.Index, Version: in.Version, Message: exitText(in.procs[0].err)})
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// logTail returns the last line of a process's log, for Failed reasons.
func logTail(p *proc) string {
	if p.log == nil {
		return ""
	}
	b, err := os.ReadFile(p.log.Name())
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if len(last) > 300 {
		last = last[len(last)-300:]
	}
	return ": " + last
}

// Delete stops pod: SIGTERM to each of its processes, SIGKILL to their
// process groups after the grace period. It returns at once; the pod is
// listed as Terminating until every process has exited. A pod already
// gone or terminating is not an error, and a pod whose UID is not the
// current incarnation's is left alone. A pod that had failed is removed.
func (d *Driver) Delete(ctx context.Context, pod upgrade.Pod) error {
	d.mu.Lock()
	in, ok := d.insts[pod.Name]
	if !ok || (pod.UID != "" && in.UID != pod.UID) || in.terminating {
		d.mu.Unlock()
		return nil
	}
	crashed := in.crashed != ""
	alive := !in.procs[0].exited()
	inst := in.Instance
	d.mu.Unlock()

	// Record the role the pod holds as its stop begins.
	var st State
	if alive && !crashed {
		st = d.probe(ctx, inst)
	}
	d.mu.Lock()
	if in.terminating {
		d.mu.Unlock()
		return nil
	}
	in.terminating = true
	removed := d.removeIfGone(in) // a failed pod whose processes are all gone
	d.mu.Unlock()
	if removed {
		d.emit(Event{Kind: EventExited, Pod: inst.Name, Index: inst.Index, Version: inst.Version, Message: "removed failed pod"})
		return nil
	}
	role := "replica"
	if st.Primary {
		role = "primary"
	}
	if crashed {
		role = "failed"
	}
	d.emit(Event{Kind: EventStopping, Pod: inst.Name, Index: inst.Index, Version: inst.Version, Primary: st.Primary, Message: "SIGTERM (" + role + ")"})
	for _, p := range in.procs {
		p.signal(syscall.SIGTERM)
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		t := time.NewTimer(d.cfg.Grace)
		defer t.Stop()
		select {
		case <-in.gone:
		case <-t.C:
			d.emit(Event{Kind: EventKilled, Pod: inst.Name, Index: inst.Index, Version: inst.Version, Message: fmt.Sprintf("still running %s after SIGTERM", d.cfg.Grace)})
			for _, p := range in.procs {
				p.signal(syscall.SIGKILL)
			}
		}
	}()
	return nil
}

// Failover moves the primary role away from primary with Config.Failover.
// When the pod no longer holds the role, it does nothing.
func (d *Driver) Failover(ctx context.Context, primary upgrade.Pod) error {
	if d.cfg.Failover == nil {
		return fmt.Errorf("process: failover of %s: the driver has no Failover function", primary.Name)
	}
	members := d.Members(ctx)
	var cur *Member
	var others []Member
	for i := range members {
		if members[i].Name == primary.Name && (primary.UID == "" || members[i].UID == primary.UID) {
			cur = &members[i]
			continue
		}
		others = append(others, members[i])
	}
	if cur == nil {
		return fmt.Errorf("process: failover of %s: no such running pod", primary.Name)
	}
	if !cur.Primary {
		return nil
	}
	d.emit(Event{Kind: EventFailover, Pod: cur.Name, Index: cur.Index, Version: cur.Version, Primary: true})
	err := d.cfg.Failover(ctx, *cur, others)
	msg := "role moved"
	if err != nil {
		msg = err.Error()
	}
	d.emit(Event{Kind: EventFailoverDone, Pod: cur.Name, Index: cur.Index, Version: cur.Version, Message: msg})
	if err != nil {
		return fmt.Errorf("process: failover of %s: %w", cur.Name, err)
	}
	return nil
}

// lookup finds a running incarnation by the target's name.
func (d *Driver) lookup(t verify.Target) (Instance, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	in, ok := d.insts[t.Name]
	if !ok {
		return Instance{}, fmt.Errorf("process: pod %s: no such pod", t.Name)
	}
	if in.procs[0].exited() {
		return Instance{}, fmt.Errorf("process: pod %s: not running", t.Name)
	}
	return in.Instance, nil
}

// Exec runs command as `sh -c command` in the pod's directory, with the
// pod's BinDir first in PATH and Config.ExecEnv added to the environment,
// and returns its standard output. It is verify.Local's Exec: a non-zero
// exit is a *verify.ExitError (the check ran and failed), anything else
// that stops the command from running is another error.
func (d *Driver) Exec(ctx context.Context, t verify.Target, command string) (string, error) {
	inst, err := d.lookup(t)
	if err != nil {
		return "", err
	}
	env := os.Environ()
	for i, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			env = slices.Delete(env, i, i+1)
			break
		}
	}
	env = append(env, "PATH="+inst.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	if d.cfg.ExecEnv != nil {
		env = append(env, d.cfg.ExecEnv(inst)...)
	}
	return verify.Local{Dir: inst.Dir, Env: env}.Exec(ctx, t, command)
}

// Get does an HTTP GET of path on the pod's logical port (0: the
// Config.DefaultPort), that is on the incarnation's loopback port for it,
// as verify.Local does.
func (d *Driver) Get(ctx context.Context, t verify.Target, port int32, path string) (int, []byte, error) {
	inst, err := d.lookup(t)
	if err != nil {
		return 0, nil, err
	}
	if port == 0 {
		port = d.cfg.DefaultPort
	}
	real, ok := inst.Ports[port]
	if !ok {
		return 0, nil, fmt.Errorf("process: GET %s on %s: the pod has no port %d (ports %v)", path, t.Name, port, d.cfg.Ports)
	}
	return verify.Local{PortFor: func(verify.Target, int32) int32 { return int32(real) }}.Get(ctx, t, port, path)
}

// Close stops every process of the driver (SIGTERM, SIGKILL after the grace
// period) and waits until they have exited or ctx ends. The driver creates
// nothing afterwards.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	var all []*incarnation
	for _, in := range d.insts {
		all = append(all, in)
	}
	d.mu.Unlock()
	for _, in := range all {
		if err := d.Delete(ctx, upgrade.Pod{Name: in.Name, UID: in.UID}); err != nil {
			return err
		}
	}
	for _, in := range all {
		// A crashed pod's remaining processes were signalled by watch.
		select {
		case <-in.gone:
		case <-ctx.Done():
			for _, p := range in.procs {
				p.signal(syscall.SIGKILL)
			}
			return fmt.Errorf("process: close: %s still running: %w", in.Name, ctx.Err())
		}
	}
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("process: close: %w", ctx.Err())
	}
}
