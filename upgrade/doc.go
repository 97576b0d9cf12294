// Package upgrade orchestrates version upgrades of a stateful middleware
// group (Redis, Kafka, ZooKeeper... run as indexed pods): rolling upgrade
// pod by pod or in a window, canary by partition, maxSurge and
// maxUnavailable budgets, pre-upgrade checks, post-upgrade verification and
// automatic rollback with a limit, as the rolling-upgrade design describes.
//
// # Shape
//
// The decision is a pure function of (spec, status, observed pods). Plan
// computes it without side effects (a dry run); Step computes it and
// carries it out through a PodDriver: one round of creates, deletes,
// failovers and checks, then it returns a Result in the manner of
// controller-runtime's reconcile.Result. An operator calls Step from its
// reconcile loop and persists the status.Status it updates; simple programs
// call Run, which loops Step on the injected clock.
//
// The Upgrader holds no state between calls: build one per reconcile if you
// like. Everything it needs lives in the status.Status the caller persists
// and in what the driver observes.
//
// # Write order (the caller's contract)
//
//  1. Read the status last persisted; call Step with it and the desired
//     state (version, replicas).
//  2. Persist st after every Step, whatever it returned; st is updated even
//     when Step returns a driver error. Bad input (a desired state or a pod
//     list that cannot be, named in the error) leaves st untouched.
//  3. Call Step again after Result.RequeueAfter, or sooner on a pod event;
//     after Result.Done, only when the desired state or spec changes.
//
// The Upgrader's side of it:
//
//   - A Step that changes the attempt's phase (start, rollback, pause,
//     completion, failure) writes no pod. The decision reaches the status
//     before anything acts on it; if the caller crashes before persisting
//     it, the next Step derives it again from the same observation.
//   - A Step writes each slot at most once and keeps the budget: never more
//     than replicas+maxSurge pods (terminating ones count), never a ready pod
//     stopped while maxUnavailable slots already lack one (a slot whose pod
//     is already broken is replaced first and for free).
//   - Writes the driver's view does not show yet are remembered in the
//     status (the slot's stage, the deleted pod's UID) and counted as done;
//     a delete always names the pod's UID.
//   - A stale status (one or several Steps old) converges to the same
//     outcome: a slot's progress is re-derived from its pods.
//
// # Per pod
//
// In place (maxUnavailable): failover if the pod is the primary → pre-upgrade
// check → delete the old pod → wait until it is gone → create the new one →
// wait Ready within rollingUpdate.timeout (a pod that reports a Failed reason
// such as ImagePullBackOff fails at once) → post-upgrade verification → done.
// With surge: pre-upgrade check → create the new pod beside the old one →
// wait Ready → verify → failover → delete the old pod.
//
// Pods below the partition are never touched (a missing one is recreated at
// the old version); when every slot at or above it is done the attempt is
// Paused until the partition is lowered.
//
// # Failure
//
// A failed slot is recorded in the status. If rollback is enabled, on
// failure, and the rollback count is below the limit, the count goes up and
// every slot moves back to the old version under the same budget rules;
// otherwise the group is left Failed for a person (a new version, Retry or
// Rollback). A completed upgrade resets the count.
package upgrade
