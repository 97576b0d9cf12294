// Package e2e holds the end-to-end tests and benchmarks of upgrade/kube
// against a real control plane: etcd, kube-apiserver and
// kube-controller-manager (its StatefulSet controller) started on loopback
// by TestMain from the binaries hack/ensure-kube.sh builds, with
// internal/kubeenv's Kubelet playing the kubelet. Without the binaries the
// tests skip (under CI=true they are built first, never skipped); -short
// skips them too.
//
//	go test ./upgrade/kube/e2e/                       # the tests
//	go test ./upgrade/kube/e2e/ -run '^$' -bench . -benchtime 1x   # makespan and API cost
package e2e
