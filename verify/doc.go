// Package verify runs the checks of the rolling-upgrade design: the
// pre-upgrade check (section 5) and the post-upgrade verification (section
// 6). A Check is the YAML block; New turns it into a Verifier that reaches
// the pod through a PodAccess.
package verify
