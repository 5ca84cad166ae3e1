package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"

	"github.com/redline-dev/redline/rego"
)

// RegoConfigMapName is the ConfigMap of user Rego modules (rego/README.md).
const RegoConfigMapName = "redline-rego"

// regoConfigWatcher hot-reloads the user's Rego modules from a ConfigMap
// in Redline's namespace. A set that does not compile leaves the last good
// one active; the engine logs and counts it, and an Event on the ConfigMap
// tells whoever edited it.
type regoConfigWatcher struct {
	client    kubernetes.Interface
	namespace string
	name      string
	engine    *rego.Engine
	recorder  events.EventRecorder
	logger    *slog.Logger

	mu      sync.Mutex
	current *corev1.ConfigMap // for Events
}

func (w *regoConfigWatcher) NeedLeaderElection() bool { return false }

// eventSink is the engine's EventSink: Events land on the ConfigMap.
func (w *regoConfigWatcher) eventSink(reason, message string) {
	w.mu.Lock()
	cm := w.current
	w.mu.Unlock()
	if cm == nil || w.recorder == nil {
		return
	}
	eventType := corev1.EventTypeNormal
	if reason == rego.ReasonCompileFailed {
		eventType = corev1.EventTypeWarning
	}
	w.recorder.Eventf(cm, nil, eventType, reason, "Compile", "%s", message)
}

func (w *regoConfigWatcher) apply(cm *corev1.ConfigMap) {
	w.mu.Lock()
	w.current = cm
	w.mu.Unlock()
	var modules map[string]string
	if cm != nil {
		modules = cm.Data
	}
	// Update keeps the last good set and reports a failure itself.
	_ = w.engine.Update(modules)
}

func (w *regoConfigWatcher) Start(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(w.client, 10*time.Minute,
		informers.WithNamespace(w.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", w.name).String()
		}))
	inf := factory.Core().V1().ConfigMaps().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.applyObject(obj) },
		UpdateFunc: func(_, obj any) { w.applyObject(obj) },
		DeleteFunc: func(any) { w.apply(nil) },
	})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
	return nil
}

func (w *regoConfigWatcher) applyObject(obj any) {
	if cm, ok := obj.(*corev1.ConfigMap); ok {
		w.apply(cm)
	}
}
