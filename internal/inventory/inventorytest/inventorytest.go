// Package inventorytest holds cluster fixtures shared by tests of the
// packages that resolve flows against an inventory.
package inventorytest

import (
	"context"
	_ "embed"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redline-dev/redline/internal/inventory"
)

// ShopManifests is a small cluster as `kubectl get -o yaml` prints it:
// namespaces shop and payments; Deployments frontend and cart (shop) and
// payment (payments), each with a ReplicaSet and a pod that has its
// address (frontend 10.244.1.23, cart 10.244.2.41, payment 10.244.3.7);
// Service shop/cart on 10.96.0.10 (80 → the named port http, 8080;
// 9090 → 9091 by number) and payments/payment on 10.96.0.20 (443 → 8443
// by number). Pods carry the labels app and (in shop) tier.
//
//go:embed testdata/shop.yaml
var ShopManifests string

// WriteShop writes ShopManifests to dir/cluster.yaml and returns its path.
func WriteShop(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(path, []byte(ShopManifests), 0o644); err != nil {
		t.Fatalf("write shop manifests: %v", err)
	}
	return path
}

// LoadShop loads ShopManifests into an inventory, failing t on error.
func LoadShop(t testing.TB) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.LoadFiles(context.Background(), []string{"-"}, inventory.LoadOptions{Stdin: strings.NewReader(ShopManifests)})
	if err != nil {
		t.Fatalf("load shop manifests: %v", err)
	}
	return inv
}
