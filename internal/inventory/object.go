package inventory

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
)

// maxListDepth bounds Lists inside Lists.
const maxListDepth = 8

// Kinds read, with the one apiVersion each is read at.
const (
	kindNamespace     = "Namespace"
	kindPod           = "Pod"
	kindService       = "Service"
	kindDeployment    = "Deployment"
	kindReplicaSet    = "ReplicaSet"
	kindDaemonSet     = "DaemonSet"
	kindStatefulSet   = "StatefulSet"
	kindJob           = "Job"
	kindCronJob       = "CronJob"
	kindNetworkPolicy = "NetworkPolicy"
)

// newObject returns an empty object of a kind read, and the apiVersion it
// is read at; nil for other kinds.
func newObject(kind string) (metav1.Object, string) {
	switch kind {
	case kindNamespace:
		return &corev1.Namespace{}, "v1"
	case kindPod:
		return &corev1.Pod{}, "v1"
	case kindService:
		return &corev1.Service{}, "v1"
	case kindDeployment:
		return &appsv1.Deployment{}, "apps/v1"
	case kindReplicaSet:
		return &appsv1.ReplicaSet{}, "apps/v1"
	case kindDaemonSet:
		return &appsv1.DaemonSet{}, "apps/v1"
	case kindStatefulSet:
		return &appsv1.StatefulSet{}, "apps/v1"
	case kindJob:
		return &batchv1.Job{}, "batch/v1"
	case kindCronJob:
		return &batchv1.CronJob{}, "batch/v1"
	case kindNetworkPolicy:
		return &networkingv1.NetworkPolicy{}, "networking.k8s.io/v1"
	}
	return nil, ""
}

// objectKey identifies an object: the same key twice is an error.
type objectKey struct{ kind, namespace, name string }

// object is one object read.
type object struct {
	doc *document
	// path is where the object is in its document: "" for the whole
	// document, "items[3]" for a List item.
	path string
	key  objectKey
	obj  metav1.Object
}

// line is the line the object starts at.
func (o *object) line() int { return o.doc.lineOf(o.path) }

func (o *object) ref() string { return objectRef(o.key.kind, o.key.namespace, o.key.name) }

// objectRef names an object in messages: "Kind namespace/name", or
// "Kind name" for objects without a namespace.
func objectRef(kind, namespace, name string) string {
	kind, namespace, name = short(kind), short(namespace), short(name)
	switch {
	case name == "":
		return kind
	case namespace == "":
		return kind + " " + name
	}
	return kind + " " + namespace + "/" + name
}

// loader accumulates the objects of every stream read.
type loader struct {
	opts     LoadOptions
	warnings []string
	objects  []*object
	seen     map[objectKey]*object
	// pods are filled by buildWorkloads.
	pods []Pod
}

func newLoader(opts LoadOptions) *loader {
	return &loader{opts: opts, seen: make(map[objectKey]*object)}
}

func (l *loader) warn(source string, line int, object, format string, args ...any) {
	l.warnings = append(l.warnings, oneLine(locationPrefix(source, line, object)+fmt.Sprintf(format, args...)))
}

// loadStream reads every document of one stream.
func (l *loader) loadStream(ctx context.Context, name string, data []byte) error {
	docs, err := splitStream(name, data, l.opts.MaxDocumentBytes)
	if err != nil {
		return err
	}
	for _, d := range docs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.loadValue(d, d.json, "", typeDefaults{}, 0); err != nil {
			return err
		}
	}
	return nil
}

// typeDefaults are the apiVersion and kind of the items of a typed List,
// which may leave them out.
type typeDefaults struct{ apiVersion, kind string }

// header is what every object has, read before the object is decoded.
type header struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   json.RawMessage `json:"metadata"`
	Items      json.RawMessage `json:"items"`
}

// jsonKind names the kind of a JSON value for messages.
func jsonKind(raw []byte) string {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return "object"
		case '[':
			return "list"
		case '"':
			return "string"
		case 'n':
			return "null"
		case 't', 'f':
			return "boolean"
		}
		return "number"
	}
	return "null"
}

// loadValue reads one JSON value: a document, or an item of a List.
func (l *loader) loadValue(d *document, raw []byte, path string, defaults typeDefaults, depth int) error {
	fail := func(line int, object, format string, args ...any) error {
		return &ManifestError{Source: d.source, Line: line, Object: object, Problem: fmt.Sprintf(format, args...)}
	}
	what := "document"
	if path != "" {
		what = path
	}
	switch k := jsonKind(raw); k {
	case "null":
		return nil // an empty document, or a null List item
	case "object":
	default:
		return fail(d.lineOf(path), "", "%s is a %s, not a Kubernetes object: each document must be a mapping with apiVersion, kind and metadata", what, k)
	}

	var h header
	strict, err := kjson.UnmarshalStrict(raw, &h, kjson.DisallowDuplicateFields)
	if err != nil {
		return l.decodeError(d, path, "", nil, err)
	}
	if err := l.strictErrors(d, path, "", strict); err != nil {
		return err
	}
	if h.Kind == "" {
		h.Kind = defaults.kind
	}
	if h.APIVersion == "" {
		h.APIVersion = defaults.apiVersion
	}
	var meta struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	}
	_ = kjson.UnmarshalCaseSensitivePreserveInts(h.Metadata, &meta) // for messages only
	meta.Name, meta.Namespace = strings.TrimSpace(meta.Name), strings.TrimSpace(meta.Namespace)

	switch {
	case h.Kind == "" && h.APIVersion == "":
		return fail(d.lineOf(path), objectRef("", meta.Namespace, meta.Name), "%s has no apiVersion and kind: every Kubernetes object needs both (is this a Kubernetes manifest?)", what)
	case h.Kind == "":
		return fail(d.lineOf(path), "", "%s has no kind: every Kubernetes object needs one", what)
	case h.APIVersion == "":
		return fail(d.lineOf(path), objectRef(h.Kind, meta.Namespace, meta.Name), "no apiVersion: every Kubernetes object needs one")
	}

	if h.Kind == "List" || (strings.HasSuffix(h.Kind, "List") && jsonKind(h.Items) != "null") {
		return l.loadList(d, path, h, depth)
	}

	obj, apiVersion := newObject(h.Kind)
	if obj == nil {
		// Other kinds may be cluster-scoped: no default namespace.
		l.warn(d.source, d.lineOf(path), objectRef(h.Kind, meta.Namespace, meta.Name), "kind %s skipped: not used for network analysis", short(h.Kind))
		return nil
	}
	ns := meta.Namespace
	switch {
	case h.Kind == kindNamespace:
		ns = ""
	case ns == "":
		ns = l.opts.DefaultNamespace
	}
	ref := objectRef(h.Kind, ns, meta.Name)
	if h.APIVersion != apiVersion {
		l.warn(d.source, d.lineOf(path), ref, "apiVersion %s skipped: redline reads %s only at %s", short(h.APIVersion), h.Kind, apiVersion)
		return nil
	}
	strict, err = kjson.UnmarshalStrict(raw, obj)
	if err != nil {
		return l.decodeError(d, path, ref, obj, err)
	}
	if err := l.strictErrors(d, path, ref, strict); err != nil {
		return err
	}
	// Items of typed Lists may leave them out.
	if o, ok := obj.(interface{ GetObjectKind() schema.ObjectKind }); ok {
		o.GetObjectKind().SetGroupVersionKind(schema.FromAPIVersionAndKind(apiVersion, h.Kind))
	}
	return l.add(d, path, h.Kind, obj)
}

// loadList reads the items of a List.
func (l *loader) loadList(d *document, path string, h header, depth int) error {
	ref := h.Kind
	if depth >= maxListDepth {
		return &ManifestError{Source: d.source, Line: d.lineOf(path), Object: ref,
			Problem: fmt.Sprintf("Lists nested more than %d deep", maxListDepth)}
	}
	var items []json.RawMessage
	if jsonKind(h.Items) == "null" {
		return nil // an empty List
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(h.Items, &items); err != nil {
		return &ManifestError{Source: d.source, Line: d.lineOf(join(path, "items")), Object: ref,
			Problem: "items must be a list of objects"}
	}
	var defaults typeDefaults
	if h.Kind != "List" {
		defaults = typeDefaults{apiVersion: h.APIVersion, kind: strings.TrimSuffix(h.Kind, "List")}
	}
	for i, item := range items {
		if err := l.loadValue(d, item, join(path, "items["+strconv.Itoa(i)+"]"), defaults, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// join appends a field path to another.
func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// add checks a decoded object's name and namespace and records it.
func (l *loader) add(d *document, path, kind string, obj metav1.Object) error {
	name := obj.GetName()
	if name == "" {
		if obj.GetGenerateName() != "" {
			l.warn(d.source, d.lineOf(path), kind+" "+short(obj.GetGenerateName())+"*",
				"skipped: it has only metadata.generateName, its name is chosen when it is created")
			return nil
		}
		return &ManifestError{Source: d.source, Line: d.lineOf(path), Object: kind,
			Problem: "metadata.name is missing: every object needs a name"}
	}
	if kind == kindNamespace {
		if ns := obj.GetNamespace(); ns != "" {
			l.warn(d.source, d.lineOf(path), objectRef(kind, "", name),
				"metadata.namespace %q ignored: namespaces are cluster-scoped", short(ns))
			obj.SetNamespace("")
		}
	} else if obj.GetNamespace() == "" {
		obj.SetNamespace(l.opts.DefaultNamespace)
	}
	o := &object{doc: d, path: path, key: objectKey{kind, obj.GetNamespace(), name}, obj: obj}
	if prev, ok := l.seen[o.key]; ok {
		return &ManifestError{Source: d.source, Line: o.line(), Object: o.ref(), Problem: fmt.Sprintf(
			"defined twice: first at %s: line %d; keep one of them", prev.doc.source, prev.line())}
	}
	l.seen[o.key] = o
	l.objects = append(l.objects, o)
	return nil
}

// strictErrors turns the strict decoding findings into warnings (unknown
// fields) or an error (duplicate fields).
// Field paths are relative to the object, as people read them.
func (l *loader) strictErrors(d *document, path, ref string, errs []error) error {
	type finding struct {
		line      int
		field     string
		duplicate bool
	}
	var found []finding
	for _, e := range errs {
		f := finding{duplicate: strings.HasPrefix(e.Error(), "duplicate field")}
		var fe kjson.FieldError
		if errors.As(e, &fe) {
			f.field = fe.FieldPath()
		}
		f.line = d.lineOfKey(join(path, f.field))
		f.field = short(f.field)
		found = append(found, f)
	}
	// The decoder reports fields in its own order; people read top down.
	slices.SortStableFunc(found, func(a, b finding) int { return cmp.Compare(a.line, b.line) })
	for _, f := range found {
		if f.duplicate {
			return &ManifestError{Source: d.source, Line: f.line, Object: ref,
				Problem: fmt.Sprintf("duplicate field %s: each field may appear once", f.field)}
		}
	}
	for _, f := range found {
		l.warn(d.source, f.line, ref,
			"unknown field %s ignored (a typo, or a field this version of redline does not know)", f.field)
	}
	return nil
}

// decodeError explains why a document does not decode into its kind.
// obj is what was being decoded, nil for the header.
func (l *loader) decodeError(d *document, path, ref string, obj any, err error) error {
	e := &ManifestError{Source: d.source, Line: d.lineOf(path), Object: ref}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		got := strings.TrimSpace(te.Value)
		switch got {
		case "array":
			got = "a list"
		case "object":
			got = "a mapping"
		case "bool":
			got = "a boolean"
		case "string":
			got = "a string"
		case "number":
			got = "a number"
		default:
			if n, ok := strings.CutPrefix(got, "number "); ok {
				got = "the number " + n
			}
		}
		want := describeType(te.Type)
		if obj != nil {
			if t := fieldType(reflect.TypeOf(obj), te.Field); t == reflect.TypeFor[intstr.IntOrString]() {
				want = "an integer or a name"
			}
		}
		e.Problem = fmt.Sprintf("%s: expected %s, got %s", short(te.Field), want, got)
		if te.Field == "" {
			e.Problem = fmt.Sprintf("expected %s, got %s", want, got)
		}
		if line := d.lineOfValue(join(path, te.Field), te.Value); line > 0 {
			e.Line = line
		}
		return e
	}
	e.Problem = short(strings.TrimPrefix(err.Error(), "json: "))
	return e
}

// describeType names a Go type the way a manifest author thinks of it.
func describeType(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int,
		reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return "an integer (" + t.Kind().String() + ")"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

// fieldType follows a decoder field path (json names, list indexes left
// out) through a Go type; nil when the path leads nowhere.
func fieldType(t reflect.Type, path string) reflect.Type {
	for name := range strings.SplitSeq(path, ".") {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
		var next reflect.Type
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == name || (tag == "" && f.Name == name) {
				next = f.Type
				break
			}
			if f.Anonymous && tag == "" {
				if ft := fieldType(f.Type, name); ft != nil {
					next = ft
					break
				}
			}
		}
		if next == nil {
			return nil
		}
		t = next
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
