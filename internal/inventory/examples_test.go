package inventory

import (
	"context"
	"path/filepath"
	"testing"
)

// The shipped examples (what `make run` analyses) load cleanly, and the shop
// is what examples/README.md describes.
func TestExamples(t *testing.T) {
	all, err := LoadFiles(context.Background(), []string{filepath.Join("..", "..", "examples")}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "warnings", all.Warnings, nil)

	inv, err := LoadFiles(context.Background(), []string{filepath.Join("..", "..", "examples", "shop")}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "namespaces", only(summary(inv), "ns "), []string{
		"ns kube-system kubernetes.io/metadata.name=kube-system",
		"ns monitoring kubernetes.io/metadata.name=monitoring,team=platform",
		"ns payments compliance=pci,environment=production,kubernetes.io/metadata.name=payments,team=payments",
		"ns shop environment=production,kubernetes.io/metadata.name=shop,team=shop",
	})
	diffLines(t, "workloads", only(summary(inv), "wl "), []string{
		"wl kube-system/coredns[Deployment] k8s-app=kube-dns dns:53/UDP dns-tcp:53/TCP metrics:9153/TCP",
		"wl monitoring/log-shipper[DaemonSet] app=log-shipper metrics:2020/TCP",
		"wl payments/payment[Deployment] app=payment https:8443/TCP",
		"wl shop/nightly-report[CronJob] app=nightly-report,tier=batch",
		"wl shop/cart[Deployment] app=cart,tier=backend http:8080/TCP",
		"wl shop/catalog[Deployment] app=catalog,tier=backend grpc:9090/TCP",
		"wl shop/checkout[Deployment] app=checkout,tier=backend http:8080/TCP",
		"wl shop/frontend[Deployment] app=frontend,tier=web http:3000/TCP",
		"wl shop/gateway[Deployment] app=gateway,tier=edge http:8080/TCP admin:9901/TCP",
		"wl shop/redis[Deployment] app=redis,tier=cache redis:6379/TCP",
		"wl shop/postgres[StatefulSet] app=postgres,tier=db postgres:5432/TCP",
	})
	if got := len(inv.Policies); got != 13 {
		t.Errorf("%d policies, want 13", got)
	}
	if got := len(inv.Services); got != 9 {
		t.Errorf("%d services, want 9", got)
	}
}
