package demo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Apply applies the demo's manifests with server-side apply (field manager
// FieldManager, taking over conflicting fields), in order: applying twice
// changes nothing. Namespace kube-system, which exists in every cluster,
// only gets the demo's namespace label.
func Apply(ctx context.Context, c client.Client) error {
	objs, err := Objects()
	if err != nil {
		return err
	}
	for _, u := range objs {
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			what := u.GetKind() + " " + u.GetName()
			if ns := u.GetNamespace(); ns != "" {
				what = u.GetKind() + " " + ns + "/" + u.GetName()
			}
			return fmt.Errorf("apply the demo's %s: %w", what, err)
		}
	}
	return nil
}

// DefaultReadyPoll is how often WaitReady looks.
const DefaultReadyPoll = 200 * time.Millisecond

// WaitReady waits until every demo Deployment, StatefulSet and DaemonSet
// has all its replicas ready (the CronJob runs at night), or ctx ends; the
// error then names the workloads still waiting. Pods become ready only
// when kube-controller-manager creates them and a kubelet (the dev
// cluster's fake one) runs them.
func WaitReady(ctx context.Context, c client.Reader) error {
	for {
		waiting, err := notReady(ctx, c)
		if err == nil && len(waiting) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("demo workloads not ready: %w", err)
			}
			return fmt.Errorf("demo workloads not ready: %s (is kube-controller-manager running, and a kubelet?)", strings.Join(waiting, ", "))
		case <-time.After(DefaultReadyPoll):
		}
	}
}

// notReady lists the workloads not ready yet, as "ns/Kind/name (ready/want)".
func notReady(ctx context.Context, c client.Reader) ([]string, error) {
	var waiting []string
	for _, w := range Workloads() {
		key := client.ObjectKey{Namespace: w.Namespace, Name: w.Name}
		var ready, want int32
		switch w.Kind {
		case "Deployment":
			var d appsv1.Deployment
			if err := c.Get(ctx, key, &d); err != nil {
				return nil, fmt.Errorf("%s: %w", w.Ref(), err)
			}
			want, ready = 1, d.Status.ReadyReplicas
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas < want {
				ready = min(ready, d.Status.UpdatedReplicas)
			}
		case "StatefulSet":
			var s appsv1.StatefulSet
			if err := c.Get(ctx, key, &s); err != nil {
				return nil, fmt.Errorf("%s: %w", w.Ref(), err)
			}
			want, ready = 1, s.Status.ReadyReplicas
			if s.Spec.Replicas != nil {
				want = *s.Spec.Replicas
			}
		case "DaemonSet":
			var d appsv1.DaemonSet
			if err := c.Get(ctx, key, &d); err != nil {
				return nil, fmt.Errorf("%s: %w", w.Ref(), err)
			}
			want, ready = d.Status.DesiredNumberScheduled, d.Status.NumberReady
			if want == 0 {
				want = 1 // no node yet: not ready
			}
		default:
			continue
		}
		if ready < want {
			waiting = append(waiting, fmt.Sprintf("%s (%d/%d ready)", w.Ref(), ready, want))
		}
	}
	slices.Sort(waiting)
	return waiting, nil
}
