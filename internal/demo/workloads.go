package demo

import (
	"k8s.io/apimachinery/pkg/labels"
)

// Workload is one of the demo's workloads.
type Workload struct {
	Namespace string
	Kind      string
	Name      string
	// Selector picks its pods.
	Selector map[string]string
	// Service is the Service in front of it, if any.
	Service string
}

// Ref renders namespace/Kind/name.
func (w Workload) Ref() string { return w.Namespace + "/" + w.Kind + "/" + w.Name }

func (w Workload) selects(podLabels map[string]string) bool {
	return labels.SelectorFromSet(w.Selector).Matches(labels.Set(podLabels))
}

// The demo's workloads, as the manifests define them.
var (
	Gateway       = Workload{NamespaceWeb, "Deployment", "gateway", map[string]string{"app": "gateway"}, "gateway"}
	Frontend      = Workload{NamespaceWeb, "Deployment", "frontend", map[string]string{"app": "frontend"}, "frontend"}
	Catalog       = Workload{NamespaceShop, "Deployment", "catalog", map[string]string{"app": "catalog"}, "catalog"}
	Cart          = Workload{NamespaceShop, "Deployment", "cart", map[string]string{"app": "cart"}, "cart"}
	Checkout      = Workload{NamespaceShop, "Deployment", "checkout", map[string]string{"app": "checkout"}, "checkout"}
	Payment       = Workload{NamespaceShop, "Deployment", "payment", map[string]string{"app": "payment"}, "payment"}
	Redis         = Workload{NamespaceShop, "Deployment", "redis", map[string]string{"app": "redis"}, "redis"}
	Postgres      = Workload{NamespaceShop, "StatefulSet", "postgres", map[string]string{"app": "postgres"}, "postgres"}
	NightlyReport = Workload{NamespaceShop, "CronJob", "nightly-report", map[string]string{"app": "nightly-report"}, ""}
	LogShipper    = Workload{NamespaceOps, "DaemonSet", "log-shipper", map[string]string{"app": "log-shipper"}, ""}
	LogStore      = Workload{NamespaceOps, "Deployment", "log-store", map[string]string{"app": "log-store"}, "log-store"}
	CoreDNS       = Workload{NamespaceDNS, "Deployment", "coredns", map[string]string{"k8s-app": "kube-dns"}, "kube-dns"}
)

// Workloads lists every demo workload.
func Workloads() []Workload {
	return []Workload{Gateway, Frontend, Catalog, Cart, Checkout, Payment, Redis, Postgres, NightlyReport, LogShipper, LogStore, CoreDNS}
}
