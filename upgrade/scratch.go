package upgrade

import (
	"fmt"
	"hash/maphash"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rollgate/rollgate/status"
)

// scratch holds buffers an Upgrader reuses between Steps so that a Step's
// cost stays linear in the pods with few allocations (see bench_test.go).
// Nothing in it outlives one Step or Plan: every user resets what it uses.
type scratch struct {
	names podSet // the pods' UIDs and names, filled by validatePods
	ready []bool // per slot
	flag  []bool // per slot
	flag2 []bool // per slot
	// unlisted and down are per slot (budgetCache).
	unlisted, down []bool
	// counted is per slot (decider.counted).
	counted []bool
	// rank is per slot (Plan's order).
	rank []uint8
	// estimate is per slot (Plan's LongestFirst order).
	estimate []time.Duration
	cands    []int32 // candidate slots of one Step
	// broken, ready32 and heap: schedule's candidates without and with a
	// ready pod, and its selection of the first ones.
	broken, ready32, heap []int32
	// actions is the action list of the last Step (Plan hands its own
	// out, so it never uses this one); planActions is how many the last
	// Plan listed.
	actions     []Action
	planActions int
	digits      []byte
}

// keepActions keeps d's action list for the next Step, dropping what it
// refers to.
func (sc *scratch) keepActions(d *decider) {
	clear(d.actions)
	sc.actions = d.actions[:0]
}

// slotFlags returns a cleared []bool of n entries from buf.
func slotFlags(buf *[]bool, n int) []bool {
	if cap(*buf) < n {
		*buf = make([]bool, n)
	}
	b := (*buf)[:n]
	clear(b)
	return b
}

// sameString is a == b, deciding without a call when both are the very
// same string (equal data pointers: a list built from the same cache,
// Step after Step).
func sameString(a, b string) bool {
	return len(a) == len(b) && (unsafe.StringData(a) == unsafe.StringData(b) || a == b)
}

// slotBytes returns a []uint8 of n entries from buf (not cleared).
func slotBytes(buf *[]uint8, n int) []uint8 {
	if cap(*buf) < n {
		*buf = make([]uint8, n)
	}
	return (*buf)[:n]
}

// slotDurations returns a zeroed []time.Duration of n entries from buf.
func slotDurations(buf *[]time.Duration, n int) []time.Duration {
	if cap(*buf) < n {
		*buf = make([]time.Duration, n)
	}
	b := (*buf)[:n]
	clear(b)
	return b
}

// podSet is an open-addressing hash set of the pods' UIDs and names,
// rebuilt for each pod list without allocating once it has grown. An
// entry holds the top 32 bits of the key's hash, a bit telling UID from
// name, and the pod's position + 1 (0: empty).
type podSet struct {
	seed  maphash.Seed
	table []uint64
	pods  []Pod
	// last holds the UID and name of each pod of the list last found
	// valid (2 per pod); valid says whether it and table describe it.
	last  []string
	valid bool
	// retired and retiredAt: the retired UIDs last looked up and the
	// positions of the pods they name, for that same list (fresh false
	// once another list was validated).
	retired    []string
	retiredAt  []int
	freshMarks bool
}

const (
	setPosBits = 31
	setPosMask = 1<<setPosBits - 1
	setNameBit = 1 << setPosBits
)

// retiredPods returns the positions of the pods whose UIDs are in
// retired: looked up once per pod list and retired list, then reused
// while neither changes (most Steps).
func (s *podSet) retiredPods(retired []string) []int {
	if s.freshMarks && slices.Equal(retired, s.retired) {
		return s.retiredAt
	}
	s.retired = append(s.retired[:0], retired...)
	s.retiredAt = s.retiredAt[:0]
	for _, uid := range retired {
		if k := s.uid(uid); k >= 0 {
			s.retiredAt = append(s.retiredAt, k)
		}
	}
	s.freshMarks = true
	return s.retiredAt
}

// remember records pods as the list last found valid.
func (s *podSet) remember(pods []Pod) {
	s.last = s.last[:0]
	for k := range pods {
		s.last = append(s.last, pods[k].UID, pods[k].Name)
	}
	s.valid = true
}

func (s *podSet) reset(pods []Pod) {
	s.valid, s.freshMarks = false, false
	if s.table == nil {
		s.seed = maphash.MakeSeed()
	}
	size := 16
	for size < 4*len(pods) {
		size *= 2
	}
	if len(s.table) != size {
		s.table = make([]uint64, size)
	} else {
		clear(s.table)
	}
	s.pods = pods
}

func (s *podSet) key(pos int, name bool) string {
	if name {
		return s.pods[pos].Name
	}
	return s.pods[pos].UID
}

// add records pod pos under its UID (name false) or its name (name true).
// It returns the position of an earlier pod with the same key, or -1.
func (s *podSet) add(pos int, name bool) int {
	k := s.key(pos, name)
	h := maphash.String(s.seed, k)
	tag := h &^ (1<<32 - 1)
	kind := uint64(0)
	if name {
		kind = setNameBit
	}
	mask := uint64(len(s.table) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		e := s.table[i]
		if e == 0 {
			s.table[i] = tag | kind | uint64(pos+1)
			return -1
		}
		if e&^(1<<32-1) == tag && e&setNameBit == kind {
			if other := int(e&setPosMask) - 1; s.key(other, name) == k {
				return other
			}
		}
	}
}

// describes reports whether the set holds the UIDs of pods, position by
// position: pods is the list validatePods last accepted, or a copy of it
// with other fields changed.
func (s *podSet) describes(pods []Pod) bool {
	return s.valid && len(s.pods) == len(pods) && (len(pods) == 0 || s.pods[0].UID == pods[0].UID)
}

// uid returns the position of the pod with UID uid, or -1.
func (s *podSet) uid(uid string) int {
	if len(s.table) == 0 {
		return -1
	}
	h := maphash.String(s.seed, uid)
	tag := h &^ (1<<32 - 1)
	mask := uint64(len(s.table) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		e := s.table[i]
		if e == 0 {
			return -1
		}
		if e&^(1<<32-1) == tag && e&setNameBit == 0 {
			if other := int(e&setPosMask) - 1; other < len(s.pods) && s.pods[other].UID == uid {
				return other
			}
		}
	}
}

// appendIndex appends i in decimal, as fmt.Sprint would.
func appendIndex(b []byte, i int32) []byte { return strconv.AppendInt(b, int64(i), 10) }

// compareBy turns a strict order into a comparison for slices.SortFunc.
func compareBy[T any](less func(a, b T) bool, a, b T) int {
	switch {
	case less(a, b):
		return -1
	case less(b, a):
		return 1
	}
	return 0
}

const waitingPre, waitingSuf = "waiting for pod ", " to be Ready"

// waitingReady returns "waiting for pod NAME to be Ready": e's message
// when it says so already (the usual case, Step after Step), so that
// waiting costs no allocation.
func waitingReady(e *status.PodProgress, name string) string {
	if isWaitingReady(e.Message, name) {
		return e.Message
	}
	return waitingPre + name + waitingSuf
}

// isWaitingReady reports whether m is "waiting for pod NAME to be Ready".
func isWaitingReady(m, name string) bool {
	return len(m) == len(waitingPre)+len(name)+len(waitingSuf) &&
		strings.HasPrefix(m, waitingPre) && strings.HasSuffix(m, waitingSuf) && m[len(waitingPre):len(waitingPre)+len(name)] == name
}

// podOf returns the position in d.pods of the pod with UID uid, looking
// in slot i's pods first and through the UID set that validatePods filled
// otherwise; -1 when it is not listed.
func (d *decider) podOf(i int32, uid string) int {
	if slots := d.obs.slots; i >= 0 && int(i) < len(slots) {
		s := &slots[i]
		for _, pos := range [...]int32{s.newPod, s.dupPod, s.oldPod} {
			if pos >= 0 && int(pos) < len(d.pods) && sameString(d.pods[pos].UID, uid) {
				return int(pos)
			}
		}
	}
	if pos := d.u.scratch.names.uid(uid); pos >= 0 && pos < len(d.pods) && d.pods[pos].UID == uid {
		return pos
	}
	return -1
}

// copyStatus returns a copy of st for Step and Plan to work on: a deep
// copy (as st.DeepCopy) but for the per-slot entries, which stay shared
// with st until the decider writes one (decider.own). A Step that writes
// no entry, as most do while pods start, copies none: at 10,000 pods the
// entries are a megabyte. Unchanged entries may thus be shared between
// the status a Step was given and the one it returns; the Upgrader never
// writes an entry it shares (guardShared checks it in the tests).
func copyStatus(st *status.Status) *status.Status {
	shallow := *st
	var entries []status.PodProgress
	var retired []string
	if st.UpgradeStatus != nil {
		us := *st.UpgradeStatus
		entries, us.Pods = us.Pods, nil
		retired, us.Retired = us.Retired, nil // as long: as many as the pods
		shallow.UpgradeStatus = &us
	}
	out := shallow.DeepCopy() // everything but the entries
	if entries != nil {
		out.UpgradeStatus.Pods = entries
	}
	if retired != nil {
		out.UpgradeStatus.Retired = retired
	}
	return out
}

// share records what work, made by copyStatus, shares with the caller's
// status: the entries (own) and the retired UIDs (ownRetired).
func (d *decider) share(work *status.Status) {
	if us := work.UpgradeStatus; us != nil {
		if len(us.Pods) > 0 {
			d.shared = us.Pods
		}
		if len(us.Retired) > 0 {
			d.sharedRetired = us.Retired
		}
	}
}

// ownRetired returns us.Retired, copied first if it is the caller's.
func (d *decider) ownRetired() []string {
	r := d.us.Retired
	if len(r) > 0 && len(d.sharedRetired) > 0 && &r[0] == &d.sharedRetired[0] {
		r = slices.Clone(r)
	}
	d.sharedRetired = nil
	return r
}

// slotHasUID reports whether the view lists a pod with UID uid, looking at
// slot s's pods first.
func (d *decider) slotHasUID(s *slotView, uid string) bool {
	for _, k := range [...]int32{s.newPod, s.oldPod, s.dupPod} {
		if k >= 0 && int(k) < len(d.pods) && sameString(d.pods[k].UID, uid) {
			return true
		}
	}
	return d.hasUID(uid)
}

// cloneEntries deep-copies entries in one move rather than one by one.
// TestCopyStatus keeps it equivalent to DeepCopy.
func cloneEntries(entries []status.PodProgress) []status.PodProgress {
	if entries == nil {
		return nil
	}
	c := make([]status.PodProgress, len(entries))
	copy(c, entries)
	for k := range c {
		// The only reference an entry holds (strings are values).
		if c[k].LastAttempt != nil {
			c[k].LastAttempt = c[k].LastAttempt.DeepCopy()
		}
	}
	return c
}

// own makes the entries this Step's own before one is written.
func (d *decider) own() {
	if d.shared == nil {
		return
	}
	if us := d.st.UpgradeStatus; us != nil && len(us.Pods) > 0 && &us.Pods[0] == &d.shared[0] {
		us.Pods = cloneEntries(us.Pods)
	}
	d.shared = nil
}

// peek returns slot s's entry for reading only: it may be the caller's.
func (d *decider) peek(s *slotView) *status.PodProgress {
	if s.entry < 0 {
		return nil
	}
	return &d.us.Pods[s.entry]
}

// steady decides, without writing the status, for the two states most
// slots of a large upgrade are in at any Step: done (the verified pod
// runs alone) and waiting for the new pod to turn Ready. It does what
// slot and readyAndVerify do there, where they write only the values the
// entry holds already. ok is false in every other state: slot decides.
func (d *decider) steady(s *slotView) (done, ok bool) {
	if s.entry < 0 || s.newPod < 0 {
		return false, false
	}
	e := d.peek(s)
	p := &d.pods[s.newPod]
	if !sameString(e.Version, d.wantOf(s)) || !sameString(e.NewUID, p.UID) {
		return false, false
	}
	alone := s.oldCount == 0 && s.dupPod < 0
	switch e.Stage {
	case status.StageDone:
		if alone && d.counted != nil && !s.held && p.Ready {
			// Forward, its verified pod runs the target: updated
			// (refreshProgress would find the same from the entry).
			d.counted[s.index] = true
			d.updated++
		}
		return alone, alone
	case status.StageWaitingReady:
		if p.Ready || p.Failed != "" || !alone && !e.Surge || !isWaitingReady(e.Message, p.Name) {
			return false, false
		}
		if !p.Created.After(d.readyCutoff) {
			return false, false // timed out (now >= created + timeout)
		}
		d.act(Action{Kind: ActionWait, Index: s.index, Version: d.wantOf(s), Reason: e.Message})
		// Wake at the oldest one's deadline (attempt), or to poll.
		if !d.waitReady || p.Created.Before(d.oldestWaiting) {
			d.oldestWaiting, d.waitReady = p.Created, true
		}
		d.poll()
		return false, true
	}
	return false, false
}

// guardShared returns what checks, at the end of a Step, that st's
// entries were not written (see copyStatus); a no-op unless the package's
// tests turned the check on for u (export_test.go).
func (u *Upgrader) guardShared(st *status.Status) func() {
	if !u.debugShared || st.UpgradeStatus == nil || len(st.UpgradeStatus.Pods)+len(st.UpgradeStatus.Retired) == 0 {
		return func() {}
	}
	given, givenRetired := st.UpgradeStatus.Pods, st.UpgradeStatus.Retired
	want, wantRetired := cloneEntries(given), slices.Clone(givenRetired)
	return func() {
		if !reflect.DeepEqual(given, want) || !slices.Equal(givenRetired, wantRetired) {
			panic(fmt.Sprintf("upgrade: the Upgrader wrote the caller's status entries in place:\n got %+v %v\nwant %+v %v", given, givenRetired, want, wantRetired))
		}
	}
}

// reuseMessage returns the message of condition t in conds when it reads
// b, else b as a new string: a Step that changes nothing rewrites its
// conditions without allocating.
func reuseMessage(conds []metav1.Condition, t string, b []byte) string {
	if c := meta.FindStatusCondition(conds, t); c != nil && c.Message == string(b) {
		return c.Message
	}
	return string(b)
}

// message concatenates parts, reusing condition t's message when equal.
func (sc *scratch) message(conds []metav1.Condition, t string, parts ...string) string {
	b := sc.digits[:0]
	for _, p := range parts {
		b = append(b, p...)
	}
	sc.digits = b
	return reuseMessage(conds, t, b)
}
