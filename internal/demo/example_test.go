package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"time"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/redline-dev/redline/internal/demo"
	"github.com/redline-dev/redline/internal/devcluster"
	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/ingest"
)

// Example wires the pieces as `redline dev` does: a cluster with the
// controller manager, the fake kubelet, the demo, a day of traffic into
// Redline's ingest.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cluster, err := devcluster.Start(ctx, devcluster.Options{WorkDir: ".redline/dev", ControllerManager: true})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Stop()
	fmt.Println("export KUBECONFIG=" + cluster.KubeconfigPath())

	kube := kubernetes.NewForConfigOrDie(cluster.RESTConfig())
	kubelet, err := devcluster.NewKubelet(kube, devcluster.KubeletOptions{})
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = kubelet.Start(ctx) }()

	c, err := client.New(cluster.RESTConfig(), client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := demo.Apply(ctx, c); err != nil {
		log.Fatal(err)
	}
	wait, done := context.WithTimeout(ctx, time.Minute)
	defer done()
	if err := demo.WaitReady(wait, c); err != nil {
		log.Fatal(err)
	}

	opts, err := demo.TrafficInputs(ctx, c)
	if err != nil {
		log.Fatal(err)
	}
	opts.End, opts.Seed = time.Now(), 1
	day, err := demo.Traffic(opts)
	if err != nil {
		log.Fatal(err)
	}
	// Feed it to Redline: the ingest API, or a pipeline over the live
	// inventory and the store (ingest.New).
	feed(ctx, day.Flows)
}

func feed(ctx context.Context, flows []byte) {
	pipeline := ingest.New(ingest.Options{ /* Resolver: the inventory, Recorder: the store */ })
	res, err := pipeline.Ingest(ctx, bytes.NewReader(flows), ingest.StreamOptions{Format: flow.FormatHubble})
	fmt.Println(res.Recorded, err)
}
