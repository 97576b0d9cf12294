package upgrade

import (
	"hash/maphash"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rollgate/rollgate/status"
)

// scratch holds buffers an Upgrader reuses between Steps so that a Step's
// cost stays linear in the pods with few allocations (see bench_test.go).
// Nothing in it outlives one Step or Plan: every user resets what it uses.
type scratch struct {
	names podSet  // the pods' UIDs and names, filled by validatePods
	ready []bool  // per slot
	flag  []bool  // per slot
	flag2 []bool  // per slot
	done  []bool  // per pod position
	cands []int32 // candidate slots of one Step
	// actions is the action list of the last Step (Plan hands its own
	// out, so it never uses this one).
	actions []Action
	digits  []byte
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
}

const (
	setPosBits = 31
	setPosMask = 1<<setPosBits - 1
	setNameBit = 1 << setPosBits
)

// same reports whether pods has, position by position, the UIDs and names
// of the list last found valid; if so, the set now describes pods.
func (s *podSet) same(pods []Pod) bool {
	if !s.valid || len(s.last) != 2*len(pods) {
		return false
	}
	last := s.last[:2*len(pods)]
	for k := range pods {
		// Usually the very same strings: equal data pointers compare
		// in a few cycles.
		if pods[k].UID != last[2*k] || pods[k].Name != last[2*k+1] {
			return false
		}
	}
	s.pods = pods
	return true
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
	s.valid = false
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

// entriesSorted reports whether entries are in slot order.
func entriesSorted(entries []status.PodProgress) bool {
	for k := 1; k < len(entries); k++ {
		if entries[k].Index < entries[k-1].Index {
			return false
		}
	}
	return true
}

// waitingReady returns "waiting for pod NAME to be Ready": e's message
// when it says so already (the usual case, Step after Step), so that
// waiting costs no allocation.
func waitingReady(e *status.PodProgress, name string) string {
	const pre, suf = "waiting for pod ", " to be Ready"
	if m := e.Message; len(m) == len(pre)+len(name)+len(suf) &&
		strings.HasPrefix(m, pre) && strings.HasSuffix(m, suf) && m[len(pre):len(pre)+len(name)] == name {
		return m
	}
	return pre + name + suf
}

// donePods marks, per position in d.pods, the pods that a Done entry of
// us names as its new pod (NewUID). It looks in the entry's own slot
// first and through the UID set that validatePods filled otherwise.
func (d *decider) donePods(us *status.UpgradeStatus) []bool {
	sc := &d.u.scratch
	if cap(sc.done) < len(d.pods) {
		sc.done = make([]bool, len(d.pods))
	}
	done := sc.done[:len(d.pods)]
	clear(done)
	slots := d.obs.slots
	for k := range us.Pods {
		e := &us.Pods[k]
		if e.Stage != status.StageDone || e.NewUID == "" {
			continue
		}
		found := false
		if i := int(e.Index); i >= 0 && i < len(slots) {
			for _, pos := range [...]int{slots[i].newPod, slots[i].dupPod, slots[i].oldPod} {
				if pos >= 0 && pos < len(d.pods) && d.pods[pos].UID == e.NewUID {
					done[pos], found = true, true
					break
				}
			}
		}
		if !found {
			if pos := sc.names.uid(e.NewUID); pos >= 0 && pos < len(d.pods) {
				done[pos] = true
			}
		}
	}
	return done
}

// copyStatus returns a deep copy of st, as st.DeepCopy does, copying the
// per-slot entries (the bulk of a large group's status) in one move
// rather than one by one. TestCopyStatus keeps it equivalent.
func copyStatus(st *status.Status) *status.Status {
	shallow := *st
	var entries []status.PodProgress
	if st.UpgradeStatus != nil {
		us := *st.UpgradeStatus
		entries, us.Pods = us.Pods, nil
		shallow.UpgradeStatus = &us
	}
	out := shallow.DeepCopy() // everything but the entries
	if entries != nil {
		c := make([]status.PodProgress, len(entries))
		copy(c, entries)
		for k := range c {
			// The only reference an entry holds (strings are values).
			if c[k].LastAttempt != nil {
				c[k].LastAttempt = c[k].LastAttempt.DeepCopy()
			}
		}
		out.UpgradeStatus.Pods = c
	}
	return out
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
