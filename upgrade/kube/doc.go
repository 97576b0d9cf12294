// Package kube runs rollgate's Upgrader against Kubernetes with client-go.
//
// It gives an operator the three things the Upgrader needs:
//
//   - a PodDriver, in one of two modes:
//     PodsDriver, where the operator owns bare pods, one per slot, built from
//     a corev1.PodTemplateSpec; and StatefulSetDriver, where the operator's
//     StatefulSet uses updateStrategy OnDelete, the driver sets the template's
//     version and deletes pods in the order the Upgrader chooses, and the
//     StatefulSet controller recreates them;
//   - a verify.PodAccess (Access): exec through the API server (WebSocket,
//     falling back to SPDY) and HTTP GETs through the pods/proxy subresource
//     or, in-cluster, straight to the pod IP;
//   - an upgrade.Notifier (EventNotifier) that records Kubernetes Events on
//     the operator's object.
//
// Both drivers observe pods through a shared informer (the caller's
// informers.SharedInformerFactory): after the cache has synced, Pods makes no
// API request. Their own writes are remembered until the cache shows them, so
// a lagging cache never shows a pod the driver created as missing, nor a pod
// it deleted as still running. Deletes carry UID and resourceVersion
// preconditions, so a stale view can never delete a newer incarnation of the
// same name.
//
// RequestCounter counts the API requests a client makes (reads, writes,
// watches, events), for the cost figures of the end-to-end benchmark.
//
// Labels and annotations on the pods the drivers manage:
//
//	rollgate.io/group    the group (pods mode)
//	rollgate.io/index    the slot (pods mode)
//	rollgate.io/version  the version: the annotation always holds it exactly;
//	                     the label holds it when it is a valid label value
package kube
