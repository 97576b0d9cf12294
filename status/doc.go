// Package status holds the upgrade status an operator embeds in its custom
// resource's status: the group phase, the versions, the rollback count, the
// progress of the upgrade in flight (design section 8 of the rolling-upgrade
// chapter) and Kubernetes-style conditions.
//
// The types carry generated DeepCopy methods (zz_generated.deepcopy.go), so a
// CRD status struct can embed status.Status and stay a runtime.Object.
//
// All fields are written by the upgrade package's Upgrader; an operator only
// persists them (and may read them to show its users where an upgrade stands).
//
// +kubebuilder:object:generate=true
// +k8s:deepcopy-gen=package
package status
