// Package demo is the application `redline dev` runs for a newcomer: a
// small shop of a dozen workloads over three namespaces (shop-web, shop,
// ops) plus the cluster DNS, the redline-config ConfigMap that names its
// external peers, and a simulated day of its traffic in Hubble's flow JSON.
//
// The manifests are embedded (manifests/*.yaml); Apply applies them with
// server-side apply; Traffic writes the day of flows between the pods the
// cluster actually runs.
package demo

import "net/netip"

// NamespaceLabel is the namespace label the demo's policies select
// namespaces by. Every demo namespace carries it except NamespaceUnlabeled.
const NamespaceLabel = "team"

// The demo's namespaces.
const (
	NamespaceWeb  = "shop-web"
	NamespaceShop = "shop"
	NamespaceOps  = "ops"
	// NamespaceRedline holds the redline-config ConfigMap.
	NamespaceRedline = "redline"
	// NamespaceDNS holds the cluster DNS (kube-dns, coredns).
	NamespaceDNS = "kube-system"
	// NamespaceUnlabeled lacks NamespaceLabel, though traffic crosses
	// into it (from shop-web/gateway and shop/payment to ops/log-store):
	// seed use case 5.
	NamespaceUnlabeled = NamespaceOps
)

// Namespaces are the namespaces the demo's workloads run in.
var Namespaces = []string{NamespaceWeb, NamespaceShop, NamespaceOps, NamespaceDNS}

// The external peers and their aliases in the redline-config ConfigMap.
const (
	// AliasPaymentProvider names the payment provider's addresses; the
	// payment service calls PaymentProviderAddr on 443.
	AliasPaymentProvider = "payment-provider"
	// AliasProxy names the outbound proxy the nightly report uploads
	// through, on ProxyPort.
	AliasProxy = "corp-proxy"
	// ProxyPort is the proxy's port.
	ProxyPort = 3128
)

var (
	// PaymentProviderCIDR is the alias payment-provider.
	PaymentProviderCIDR = netip.MustParsePrefix("203.0.113.0/24")
	// PaymentProviderAddr is the provider's API address the flows use.
	PaymentProviderAddr = netip.MustParseAddr("203.0.113.10")
	// ProxyAddr is the alias corp-proxy: an outbound proxy at a static IP.
	ProxyAddr = netip.MustParseAddr("198.51.100.7")
	// UnknownAddress is an external address no alias names: the catalog
	// calls it once in the day.
	UnknownAddress = netip.MustParseAddr("192.0.2.77")
)

// ClusterCIDRs are the cluster CIDRs of the redline-config ConfigMap: the
// pod and service CIDRs of the dev cluster (internal/devcluster), which
// are also kind's defaults (kind's service CIDR is the /12 around it).
var ClusterCIDRs = []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("10.96.0.0/16")}

// DNSServiceIP is the ClusterIP of kube-system/kube-dns in the manifests.
var DNSServiceIP = netip.MustParseAddr("10.96.0.10")

// FieldManager is the field manager of Apply.
const FieldManager = "redline-demo"
