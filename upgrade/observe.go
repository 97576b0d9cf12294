package upgrade

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rollgate/rollgate/status"
)

// slotView is what one Step knows about one slot: the pods the driver lists
// for it and the status entry the attempt keeps for it. It holds no
// pointer (the version it wants is decider.wantOf), so that clearing and
// scanning ten thousand of them is cheap.
type slotView struct {
	index int32
	// newPod is the position in the pod list of the non-terminating pod
	// running want (the best of them: ready first, then newest); -1 when
	// none.
	newPod int32
	// oldPod is a non-terminating pod running another version; -1 when
	// none. oldCount counts them. dupPod is another pod at want, the one
	// listed last; -1 when none.
	oldPod   int32
	oldCount int32
	dupPod   int32
	// terminating counts the slot's terminating pods.
	terminating int32
	// entry is the position of the slot's status entry in
	// UpgradeStatus.Pods; -1 when none.
	entry int32
	// ready is true when some non-terminating pod of the slot is ready.
	ready bool
	// primary is true when a non-terminating pod of the slot holds the role.
	primary bool
	// held: below the partition (upgrade direction only).
	held bool
	// estimate is the longest Pod.Estimate of the slot's non-terminating
	// pods (LongestFirst).
	estimate time.Duration
}

// observation groups the observed pods by slot.
type observation struct {
	pods  []Pod
	slots []slotView
	// ready counts the slots with a ready pod.
	ready int32
	// cleanEntries: the status entries were in slot order, none dropped
	// (finish has nothing to compact while they stay as they were).
	cleanEntries bool
}

// validatePods refuses a pod list no real group can have: the error names
// the pod. Nothing is changed when it fails. It leaves set holding the
// pods' UIDs and names. When the names and UIDs are those of the list
// validated last, position by position (a list that did not change, the
// usual case while pods start), they are known to be unique already.
func validatePods(set *podSet, pods []Pod, replicas int32) error {
	// One pass checks the fields and compares the names and UIDs with the
	// last list's (usually the very same strings: equal data pointers
	// compare in a few cycles).
	same := set.valid && len(set.last) == 2*len(pods)
	var last []string
	if same {
		last = set.last[:2*len(pods)]
	}
	for k := range pods {
		p := &pods[k]
		name := p.Name
		if name == "" {
			return fmt.Errorf("upgrade: driver listed a pod with no name (index %d, uid %q)", p.Index, p.UID)
		}
		if p.Index < 0 || p.Index >= replicas {
			return fmt.Errorf("upgrade: pod %s: index %d is outside the group's %d replicas (scaling is not the Upgrader's job)", name, p.Index, replicas)
		}
		if p.UID == "" {
			return fmt.Errorf("upgrade: pod %s: driver gave no UID", name)
		}
		if p.Version == "" {
			return fmt.Errorf("upgrade: pod %s: driver gave no version", name)
		}
		if p.Estimate < 0 {
			return fmt.Errorf("upgrade: pod %s: driver gave a negative estimate %s", name, p.Estimate)
		}
		if same && (!sameString(p.UID, last[2*k]) || !sameString(name, last[2*k+1])) {
			same = false
		}
	}
	if same {
		set.pods = pods
		return nil
	}
	set.reset(pods)
	for k := range pods {
		if other := set.add(k, false); other >= 0 {
			return fmt.Errorf("upgrade: pod %s: UID %s is also pod %s's", pods[k].Name, pods[k].UID, pods[other].Name)
		}
		if set.add(k, true) >= 0 {
			return fmt.Errorf("upgrade: pod %s: listed twice", pods[k].Name)
		}
	}
	set.remember(pods)
	return nil
}

// observe builds the per-slot view: slots below part are held at from
// (none when part is 0, as in a rollback), the others want to
// (decider.wantOf).
func observe(buf []slotView, pods []Pod, replicas int32, us *status.UpgradeStatus, part int32, from, to string) observation {
	if cap(buf) < int(replicas) {
		buf = make([]slotView, replicas)
	}
	slots := buf[:replicas]
	clear(slots) // in bulk: field by field below, no struct copies
	for i := range slots {
		s := &slots[i]
		s.index = int32(i)
		s.held = s.index < part
		s.newPod, s.oldPod, s.dupPod, s.entry = -1, -1, -1, -1
	}
	ready := int32(0)
	for k := range int32(len(pods)) {
		p := &pods[k]
		s := &slots[p.Index]
		if p.Terminating {
			s.terminating++
			continue
		}
		if p.Ready && !s.ready {
			s.ready = true
			ready++
		}
		if p.Primary {
			s.primary = true
		}
		if p.Estimate > s.estimate {
			s.estimate = p.Estimate
		}
		want := to
		if s.held {
			want = from
		}
		if !sameString(p.Version, want) {
			s.oldCount++
			if s.oldPod < 0 || better(p, &pods[s.oldPod]) {
				s.oldPod = k
			}
			continue
		}
		if s.newPod < 0 {
			s.newPod = k
		} else if better(p, &pods[s.newPod]) {
			s.dupPod, s.newPod = s.newPod, k
		} else {
			s.dupPod = k
		}
	}
	clean := true // the entries are in slot order, none dropped
	if us != nil {
		prev := int32(-1)
		for k := range int32(len(us.Pods)) {
			i := us.Pods[k].Index
			if i >= 0 && i < replicas {
				slots[i].entry = k
			}
			if i < prev || i < 0 {
				clean = false
			}
			prev = i
		}
	}
	return observation{pods: pods, slots: slots, ready: ready, cleanEntries: clean}
}

// better orders pods of one slot: ready before not ready, then newer.
func better(a, b *Pod) bool {
	if a.Ready != b.Ready {
		return a.Ready
	}
	return a.Created.After(b.Created)
}

// agreedVersion returns the version every non-terminating pod runs, or an
// error listing the versions when they disagree. ok is false when there are
// no pods.
func agreedVersion(pods []Pod) (v string, ok bool, err error) {
	byVersion := map[string][]string{}
	for _, p := range pods {
		if p.Terminating {
			continue
		}
		byVersion[p.Version] = append(byVersion[p.Version], p.Name)
	}
	switch len(byVersion) {
	case 0:
		return "", false, nil
	case 1:
		for v := range byVersion {
			return v, true, nil
		}
	}
	var parts []string
	for v, names := range byVersion {
		parts = append(parts, fmt.Sprintf("%s: %s", v, strings.Join(names, ",")))
	}
	sort.Strings(parts)
	return "", false, fmt.Errorf("upgrade: status.currentVersion is empty and the pods run several versions (%s); set it", strings.Join(parts, "; "))
}
