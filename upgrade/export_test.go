package upgrade

// GuardShared makes u's Steps and Plans check that they never write the
// status entries they share with their caller (see copyStatus). The
// package's tests turn it on for every Upgrader they build.
func GuardShared(u *Upgrader) { u.debugShared = true }

// OrderFromPods makes u's Plans build their order from the pod list alone,
// the way they do when no attempt is in flight.
func OrderFromPods(u *Upgrader) { u.debugOrderFromPods = true }
