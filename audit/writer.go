package audit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/redline-dev/redline/internal/suggest"
)

// Apply makes the suggestion ConfigMaps in managedNamespaces match desired:
// it creates the missing ones, updates one only when its data differs, and
// deletes the ones it manages (label app.kubernetes.io/managed-by=redline and
// the redline-suggested- prefix) that are no longer desired, because their
// workload is gone or its namespace opted out. A ConfigMap of the same name
// that Redline does not manage is left alone and reported in err. Errors on
// one object do not stop the others; they are joined in err.
func Apply(ctx context.Context, c client.Client, desired []corev1.ConfigMap, managedNamespaces []string) (created, updated, deleted, unchanged int, err error) {
	var errs []error
	want := make(map[client.ObjectKey]bool, len(desired))
	for i := range desired {
		d := &desired[i]
		key := client.ObjectKeyFromObject(d)
		want[key] = true
		var cur corev1.ConfigMap
		switch gerr := c.Get(ctx, key, &cur); {
		case apierrors.IsNotFound(gerr):
			obj := d.DeepCopy()
			obj.ResourceVersion = ""
			if cerr := c.Create(ctx, obj); cerr != nil {
				errs = append(errs, fmt.Errorf("create ConfigMap %s: %w", key, cerr))
				continue
			}
			created++
		case gerr != nil:
			errs = append(errs, fmt.Errorf("get ConfigMap %s: %w", key, gerr))
		case cur.Labels[suggest.LabelManagedBy] != ManagedByValue:
			errs = append(errs, fmt.Errorf("ConfigMap %s exists and is not managed by redline: delete or rename it to let redline write its suggestion", key))
		case maps.Equal(cur.Data, d.Data) && len(cur.BinaryData) == 0:
			unchanged++
		default:
			cur.Data = maps.Clone(d.Data)
			cur.BinaryData = nil
			if cur.Annotations == nil {
				cur.Annotations = map[string]string{}
			}
			maps.Copy(cur.Annotations, d.Annotations)
			if uerr := c.Update(ctx, &cur); uerr != nil {
				errs = append(errs, fmt.Errorf("update ConfigMap %s: %w", key, uerr))
				continue
			}
			updated++
		}
	}
	for _, ns := range managedNamespaces {
		var list corev1.ConfigMapList
		if lerr := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{suggest.LabelManagedBy: ManagedByValue}); lerr != nil {
			errs = append(errs, fmt.Errorf("list ConfigMaps in %s: %w", ns, lerr))
			continue
		}
		for i := range list.Items {
			cm := &list.Items[i]
			if !strings.HasPrefix(cm.Name, NamePrefix) || want[client.ObjectKeyFromObject(cm)] {
				continue
			}
			if derr := c.Delete(ctx, cm, client.Preconditions{UID: &cm.UID, ResourceVersion: &cm.ResourceVersion}); derr != nil && !apierrors.IsNotFound(derr) {
				errs = append(errs, fmt.Errorf("delete ConfigMap %s/%s: %w", cm.Namespace, cm.Name, derr))
				continue
			}
			deleted++
		}
	}
	return created, updated, deleted, unchanged, errors.Join(errs...)
}
