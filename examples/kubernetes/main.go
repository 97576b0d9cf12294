// Command kubernetes is rollgate's example controller: it reconciles a group
// of pods described by a ConfigMap with the Upgrader and writes the group's
// status back into the ConfigMap (see package controller for the format).
//
// Run it against any cluster (KUBECONFIG, ~/.kube/config, or in-cluster):
//
//	kubectl apply -f examples/kubernetes/group.yaml
//	go run ./examples/kubernetes -namespace default -name redis
//	kubectl patch configmap redis --type merge -p '{"data":{"version":"7.4.1"}}'
//	kubectl get configmap redis -o jsonpath='{.data.status}' | jq .
//	kubectl get events --field-selector involvedObject.name=redis
//
// The pods are "<name>-<index>" (a surge pod is "<name>-<index>-surge"),
// owned by the ConfigMap, so deleting it deletes them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr/funcr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rollgate/rollgate/examples/kubernetes/controller"
	"github.com/rollgate/rollgate/upgrade/kube"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kubernetes:", err)
		os.Exit(1)
	}
}

func run() error {
	namespace := flag.String("namespace", "", "namespace of the ConfigMap (default: the kubeconfig context's)")
	name := flag.String("name", "redis", "name of the ConfigMap that describes the group")
	port := flag.Int("port", 0, "default pod port of http and metrics checks")
	interval := flag.Duration("status-interval", controller.DefaultStatusInterval, "how often progress within a phase is written to the ConfigMap")
	verbose := flag.Int("v", 0, "log verbosity")
	flag.Parse()

	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	if *namespace == "" {
		if *namespace, _, err = loader.Namespace(); err != nil {
			return err
		}
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	log := funcr.New(func(prefix, args string) {
		fmt.Fprintln(os.Stderr, time.Now().Format("15:04:05.000"), prefix, args)
	}, funcr.Options{Verbosity: *verbose})
	rec, stop := kube.NewRecorder(client, nil, "rollgate-example")
	defer stop()

	c, err := controller.New(controller.Config{
		Client:         client,
		Namespace:      *namespace,
		Name:           *name,
		Access:         &kube.Access{Config: cfg, Namespace: *namespace, Port: int32(*port)},
		Recorder:       rec,
		StatusInterval: *interval,
		Logger:         log,
	})
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	log.Info("reconciling", "configmap", *namespace+"/"+*name)
	return c.Run(ctx)
}
