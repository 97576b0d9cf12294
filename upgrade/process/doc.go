// Package process is an upgrade.PodDriver that runs the members of a group
// as local processes: each pod is one incarnation of one or more processes
// (a main process and sidecars, as the containers of a Kubernetes pod) with
// its own directory and its own loopback ports. It needs no cluster, so an
// operator's upgrade logic can be run end to end against the real software
// on one machine, in tests and in demonstrations.
//
// What is specific to the software lives in three functions of Config:
// Spawn builds the commands of a new incarnation for a version (it sees the
// other members, so a replica can be pointed at the primary), Probe reports
// whether an incarnation is ready and whether it holds the primary role, and
// Failover moves the primary role to another member. The driver does the
// rest: port and directory allocation, process lifecycle (SIGTERM, then
// SIGKILL after a grace period, to the whole process group), pod identity
// (a new name and UID per incarnation), the terminating state, crash
// detection (Pod.Failed), and verify.PodAccess: Exec runs `sh -c` in the
// incarnation's directory with its private bin directory first in PATH, and
// Get does HTTP GETs on its loopback ports.
//
// Ports are declared the Kubernetes way, as the pod's logical ports (6379,
// 9121...). Each incarnation gets a free loopback port for each of them; a
// check that names port 9121 reaches whatever the incarnation's 9121 is.
package process
