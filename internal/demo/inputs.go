package demo

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TrafficInputs reads what Traffic needs from the cluster: the pods and
// Services of the demo's namespaces, and the nodes. The caller sets End
// and Seed.
func TrafficInputs(ctx context.Context, c client.Reader) (TrafficOptions, error) {
	var opts TrafficOptions
	for _, ns := range Namespaces {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			return opts, fmt.Errorf("demo traffic: list pods in %s: %w", ns, err)
		}
		opts.Pods = append(opts.Pods, pods.Items...)
		var svcs corev1.ServiceList
		if err := c.List(ctx, &svcs, client.InNamespace(ns)); err != nil {
			return opts, fmt.Errorf("demo traffic: list Services in %s: %w", ns, err)
		}
		opts.Services = append(opts.Services, svcs.Items...)
	}
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes); err != nil {
		return opts, fmt.Errorf("demo traffic: list nodes: %w", err)
	}
	opts.Nodes = nodes.Items
	return opts, nil
}
