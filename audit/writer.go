package audit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/redline-dev/redline/internal/suggest"
)

// ApplyResult counts what Apply did.
type ApplyResult struct {
	Created, Updated, Deleted, Unchanged int
}

// Writes is how many API writes Apply made.
func (r ApplyResult) Writes() int { return r.Created + r.Updated + r.Deleted }

// Writer makes the cluster's suggestion ConfigMaps match a pass.
type Writer struct {
	// Client should read from the API server, not a cache: Writer lists
	// once per pass, and a cluster-wide ConfigMap informer would hold every
	// ConfigMap of the cluster in memory.
	Client client.Client
	// Limiter paces the writes (create, update, delete) so that a pass over
	// a large cluster does not flood the API server; nil does not pace.
	Limiter *rate.Limiter
}

// ErrListManaged is wrapped by Apply's error when it could not list the
// ConfigMaps it manages, and so wrote nothing.
var ErrListManaged = errors.New("list the ConfigMaps redline manages")

// listPageSize bounds one page of the ConfigMap list.
const listPageSize = 500

// Apply makes the suggestion ConfigMaps in managedNamespaces match desired:
// it creates the missing ones, updates one only when its data differs, and
// deletes the ones it manages (label app.kubernetes.io/managed-by=redline and
// the redline-suggested- prefix) that are no longer desired, because their
// workload is gone or its namespace opted out. It reads what exists with
// one paged list of the managed ConfigMaps. A ConfigMap of a desired name
// that Redline does not manage is left alone and reported in err. Errors on
// one object do not stop the others; they are joined in err.
func (w *Writer) Apply(ctx context.Context, desired []corev1.ConfigMap, managedNamespaces []string) (ApplyResult, error) {
	var res ApplyResult
	current, err := w.listManaged(ctx)
	if err != nil {
		return res, err
	}
	var errs []error
	want := make(map[client.ObjectKey]bool, len(desired))
	for i := range desired {
		d := &desired[i]
		key := client.ObjectKeyFromObject(d)
		want[key] = true
		if err := w.put(ctx, d, current[key], &res); err != nil {
			errs = append(errs, err)
		}
	}
	managed := make(map[string]bool, len(managedNamespaces))
	for _, ns := range managedNamespaces {
		managed[ns] = true
	}
	for key, cm := range current {
		if want[key] || !managed[key.Namespace] || !strings.HasPrefix(key.Name, NamePrefix) {
			continue
		}
		if err := w.wait(ctx); err != nil {
			return res, errors.Join(append(errs, err)...)
		}
		if err := w.Client.Delete(ctx, cm, client.Preconditions{UID: &cm.UID, ResourceVersion: &cm.ResourceVersion}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete ConfigMap %s: %w", key, err))
			continue
		}
		res.Deleted++
	}
	return res, errors.Join(errs...)
}

// Put creates or updates one managed ConfigMap (the audit report).
func (w *Writer) Put(ctx context.Context, desired *corev1.ConfigMap) (ApplyResult, error) {
	var res ApplyResult
	var cur corev1.ConfigMap
	switch err := w.Client.Get(ctx, client.ObjectKeyFromObject(desired), &cur); {
	case apierrors.IsNotFound(err):
		return res, w.put(ctx, desired, nil, &res)
	case err != nil:
		return res, fmt.Errorf("get ConfigMap %s: %w", client.ObjectKeyFromObject(desired), err)
	case cur.Labels[suggest.LabelManagedBy] != ManagedByValue:
		return res, notManagedError(client.ObjectKeyFromObject(desired))
	}
	return res, w.put(ctx, desired, &cur, &res)
}

func (w *Writer) listManaged(ctx context.Context) (map[client.ObjectKey]*corev1.ConfigMap, error) {
	current := map[client.ObjectKey]*corev1.ConfigMap{}
	opts := []client.ListOption{client.MatchingLabels{suggest.LabelManagedBy: ManagedByValue}, client.Limit(listPageSize)}
	for cont := ""; ; {
		var list corev1.ConfigMapList
		if err := w.Client.List(ctx, &list, append(opts, client.Continue(cont))...); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrListManaged, err)
		}
		for i := range list.Items {
			cm := &list.Items[i]
			current[client.ObjectKeyFromObject(cm)] = cm
		}
		if cont = list.Continue; cont == "" {
			return current, nil
		}
	}
}

// put makes one ConfigMap match desired; cur is the managed one that
// exists, or nil.
func (w *Writer) put(ctx context.Context, desired, cur *corev1.ConfigMap, res *ApplyResult) error {
	key := client.ObjectKeyFromObject(desired)
	if cur == nil {
		if err := w.wait(ctx); err != nil {
			return err
		}
		obj := desired.DeepCopy()
		obj.ResourceVersion = ""
		switch err := w.Client.Create(ctx, obj); {
		case apierrors.IsAlreadyExists(err):
			// Not in the list of managed ones: someone else's.
			return notManagedError(key)
		case err != nil:
			return fmt.Errorf("create ConfigMap %s: %w", key, err)
		}
		res.Created++
		return nil
	}
	if maps.Equal(cur.Data, desired.Data) && len(cur.BinaryData) == 0 {
		res.Unchanged++
		return nil
	}
	if err := w.wait(ctx); err != nil {
		return err
	}
	upd := cur.DeepCopy()
	upd.Data = maps.Clone(desired.Data)
	upd.BinaryData = nil
	if upd.Annotations == nil {
		upd.Annotations = map[string]string{}
	}
	maps.Copy(upd.Annotations, desired.Annotations)
	if err := w.Client.Update(ctx, upd); err != nil {
		return fmt.Errorf("update ConfigMap %s: %w", key, err)
	}
	res.Updated++
	return nil
}

func (w *Writer) wait(ctx context.Context) error {
	if w.Limiter == nil {
		return nil
	}
	return w.Limiter.Wait(ctx)
}

func notManagedError(key client.ObjectKey) error {
	return fmt.Errorf("ConfigMap %s exists and is not managed by redline (label %s=%s): delete or rename it to let redline write it", key, suggest.LabelManagedBy, ManagedByValue)
}
