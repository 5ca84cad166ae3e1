// Package inventory is the cluster view Redline analyses: namespaces,
// workloads, services and NetworkPolicies.
//
// LoadFiles builds it from manifest files (what `redline analyze -f` reads).
// A Cluster (cluster.go) resolves flow peers to workloads, nodes, Services
// and classified addresses; FromInventory builds one from an Inventory,
// NewLiveCluster and Watch keep one up to date from the API server, and its
// Snapshot is an Inventory built by the same rules.
//
// # What is read
//
// Paths are files, folders (read recursively: *.yaml, *.yml and *.json, in
// lexical order, hidden files and folders skipped) or "-" for stdin. A stream
// is YAML with any number of "---" separated documents, or JSON: one object
// or a stream of them. v1 List and typed lists (NetworkPolicyList,
// DeploymentList ...) are unpacked.
//
// Kinds read: Namespace, Pod, Service (v1), Deployment, ReplicaSet,
// DaemonSet, StatefulSet (apps/v1), Job, CronJob (batch/v1) and
// NetworkPolicy (networking.k8s.io/v1). Other kinds, and these kinds at other
// apiVersions, are skipped with a warning. Empty and comment-only documents
// are ignored.
//
// Documents are decoded strictly: malformed YAML or JSON, duplicate keys,
// a document without apiVersion or kind, a field of the wrong type, an
// object defined twice, a file over 64 MiB or a document over 16 MiB are
// errors, and LoadFiles then returns no inventory at all. Unknown fields are
// warnings (like kubectl --validate=warn): the object still loads, without
// them.
//
// # Workloads
//
// Every pod controller becomes one netpol.Workload, seen through its pod
// template. Pods, ReplicaSets and Jobs are folded into their top owner
// following controller ownerReferences (Pod → ReplicaSet → Deployment,
// Pod → Job → CronJob); see workload.go for the exact rules, including the
// owners that are not in the files.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redline-dev/redline/internal/netpol"
)

// Size limits applied when LoadOptions leaves them zero.
const (
	DefaultMaxFileBytes     = 64 << 20
	DefaultMaxDocumentBytes = 16 << 20
	// DefaultNamespace is where objects without metadata.namespace go.
	DefaultNamespace = "default"
)

// Inventory is what the manifests describe, normalised for analysis.
type Inventory struct {
	// Namespaces are sorted by name. Every namespace an object lives in is
	// here, defined in the files or not, and every namespace carries the
	// kubernetes.io/metadata.name label.
	Namespaces []netpol.Namespace
	// Workloads are sorted by namespace, kind and name.
	Workloads []*netpol.Workload
	// Services are sorted by namespace and name.
	Services []Service
	// Pods are the pods read, sorted by namespace and name, each with the
	// workload it was folded into (a key of Workloads).
	Pods []Pod
	// Policies are sorted by namespace and name, namespace filled in. They
	// are decoded strictly but not validated: the engine does that.
	Policies []*networkingv1.NetworkPolicy
	// Warnings are for people, one line each, in the order found, e.g.
	// "examples/x.yaml: line 12: ConfigMap shop/settings: kind ConfigMap skipped".
	Warnings []string
}

// Service is a Service as analysis needs it.
type Service struct {
	Namespace string
	Name      string
	// Type is ClusterIP when the manifest leaves it out.
	Type corev1.ServiceType
	// Selector picks the pods behind the Service. It is nil when the Service
	// has no selector (its endpoints are managed by hand): an empty selector
	// selects nothing for a Service, unlike for a NetworkPolicy.
	Selector map[string]string
	// ClusterIPs are the Service's virtual addresses when the manifest (or
	// the cluster it was read from) has them; empty for headless Services.
	ClusterIPs []netip.Addr
	// Headless is clusterIP: None.
	Headless bool
	// ExternalName is the DNS name of an ExternalName Service.
	ExternalName string
	Ports        []ServicePort
}

// Pod is a pod read and the workload it belongs to.
type Pod struct {
	Namespace string
	Name      string
	// WorkloadKind and WorkloadName name the workload of Workloads the pod
	// was folded into (same namespace).
	WorkloadKind string
	WorkloadName string
	// IPs are status.podIPs (else status.podIP); empty for pods that have
	// finished, whose addresses are reused.
	IPs         []netip.Addr
	Node        string
	HostNetwork bool
}

// ServicePort is one port of a Service, defaults applied.
type ServicePort struct {
	Name string
	// Protocol is TCP when the manifest leaves it out.
	Protocol corev1.Protocol
	Port     int32
	// TargetPort is a number or a container port name; Port when the
	// manifest leaves it out.
	TargetPort intstr.IntOrString
	NodePort   int32
}

// LoadOptions tune LoadFiles. The zero value is ready to use.
type LoadOptions struct {
	// Stdin is read for the path "-"; nil means os.Stdin.
	Stdin io.Reader
	// DefaultNamespace is the namespace of objects without one; empty means
	// "default", as kubectl does without a context namespace.
	DefaultNamespace string
	// MaxFileBytes and MaxDocumentBytes refuse huge input; zero means
	// DefaultMaxFileBytes and DefaultMaxDocumentBytes.
	MaxFileBytes     int64
	MaxDocumentBytes int64
}

func (o LoadOptions) withDefaults() LoadOptions {
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
	if o.DefaultNamespace == "" {
		o.DefaultNamespace = DefaultNamespace
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.MaxDocumentBytes <= 0 {
		o.MaxDocumentBytes = DefaultMaxDocumentBytes
	}
	return o
}

// ErrNoPaths is returned by LoadFiles when it is given nothing to read.
var ErrNoPaths = errors.New("no manifests given: pass files, folders or - for stdin")

// LoadFiles reads manifests from files, folders and stdin ("-") and returns
// the inventory they describe. It fails, returning no inventory, on the first
// bad document: the error says where (file and line) and what is wrong.
func LoadFiles(ctx context.Context, paths []string, opts LoadOptions) (*Inventory, error) {
	if len(paths) == 0 {
		return nil, ErrNoPaths
	}
	opts = opts.withDefaults()
	l := newLoader(opts)
	sources, err := expandPaths(paths, &l.warnings)
	if err != nil {
		return nil, err
	}
	for _, src := range sources {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := readSource(src, opts)
		if err != nil {
			return nil, err
		}
		if err := l.loadStream(ctx, src.name, data); err != nil {
			return nil, err
		}
	}
	return l.build(), nil
}

// ManifestError is a problem with one document or object of the input. Its
// message is "file: line N: Kind namespace/name: what is wrong", the parts
// that are unknown left out.
type ManifestError struct {
	// Source is the file as given (a path, or "stdin").
	Source string
	// Line is the 1-based line the problem is at, or where the document or
	// list item starts; 0 when unknown.
	Line int
	// Object is "Kind namespace/name" (or "Kind name" for Namespaces) when
	// known.
	Object string
	// Problem says what is wrong and, when it helps, what to do.
	Problem string
}

func (e *ManifestError) Error() string {
	return oneLine(locationPrefix(e.Source, e.Line, e.Object) + e.Problem)
}

func locationPrefix(source string, line int, object string) string {
	s := source + ": "
	if line > 0 {
		s += "line " + strconv.Itoa(line) + ": "
	}
	if object != "" {
		s += object + ": "
	}
	return s
}

// oneLine escapes what would break a message over lines or hide text
// (control and format characters, line and paragraph separators): names and
// values in messages come from the input.
func oneLine(s string) string {
	bad := func(r rune) bool { return r == utf8.RuneError || !unicode.IsPrint(r) && r != ' ' }
	if !strings.ContainsFunc(s, bad) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if bad(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// short cuts an identifier from the input (a kind, a name, a field path)
// to a length a message can carry.
func short(s string) string {
	const max = 256
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// formatSize renders a byte count for size limit messages.
func formatSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
