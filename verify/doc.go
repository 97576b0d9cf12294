// Package verify runs the checks of the rolling-upgrade design: the
// pre-upgrade check (section 5) and the post-upgrade verification (section
// 6). A Check is the YAML block; New turns it into a Verifier that reaches
// the pod through a PodAccess.
//
// # Checks
//
// Check types are those of the design:
//
//	exec, custom  run `sh -c command` in the pod; pass when it exits 0 and its
//	              output contains `expected` (match: exact / regex otherwise)
//	metrics       scrape `path` (default /metrics) on `port`, Prometheus text
//	              or OpenMetrics; every series matching each metric selector
//	              (`redis_up{role="master"}`) satisfies its expectation
//	              (`1`, `">0"`, `">=0.99"`, `"!=0"`...)
//	http          GET `endpoint` (a path) on `port`; pass on `expectedStatus`
//	              (default 200)
//	health-check  the pod is Ready
//
// New validates the check (errors name the field, `check.command`) and
// applies its defaults. Each Verify call is one attempt bounded by the
// check's timeout; retrying at `interval` and counting thresholds belongs
// to the caller (the Upgrader).
//
// # Outcomes
//
// An attempt passes (nil), fails, or errors, as Argo Rollouts distinguishes
// a failed measurement from one that could not be taken. Classify tells
// which: an error wrapping *FailedError means the check ran and the pod did
// not meet it (count it against FailureThreshold); any other error means the
// check could not run — pod unreachable, exec transport broken, answer
// unparsable, non-2xx scrape, or the attempt's deadline passed (count it
// against ErrorThreshold). A command that exits non-zero ran: a PodAccess
// reports it as *ExitError, which exec and custom checks turn into a
// failure.
//
// # The pre-upgrade health-check
//
// The design's pre-upgrade health-check means "every pod of the group is
// Ready". A Verifier sees one pod, so the health-check built by New only
// checks its target's Ready; the Upgrader, which knows all pods, evaluates
// the group-wide gate itself (or calls the verifier for every pod).
//
// # Reaching pods
//
// PodAccess is the seam: the Kubernetes driver implements it with pod exec
// and the API server's pod proxy; Local implements it for local processes
// (`sh -c` here, HTTP to 127.0.0.1), with per-target ports, environment and
// command rewriting so that each "pod" reaches its own process. Whatever the
// access, answers are bounded (MaxBodyBytes, ReadBounded) so a pod cannot
// exhaust the controller's memory, and messages quote at most
// MaxOutputInError / MaxBodyInError bytes of them.
package verify
