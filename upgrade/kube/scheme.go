package kube

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// clientgoScheme returns client-go's scheme of the built-in types.
func clientgoScheme() *runtime.Scheme { return scheme.Scheme }
