package inventory

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/redline-dev/redline/internal/netpol"
)

// writeFiles creates files (relative path → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loadIn writes files to a fresh folder, makes it the working directory (so
// that messages carry short relative paths) and loads paths.
func loadIn(t *testing.T, files map[string]string, stdin string, paths []string, opts LoadOptions) (*Inventory, error) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	t.Chdir(dir)
	opts.Stdin = strings.NewReader(stdin)
	inv, err := LoadFiles(context.Background(), paths, opts)
	if err != nil && inv != nil {
		t.Fatalf("LoadFiles returned an inventory with error %v", err)
	}
	return inv, err
}

// loadString loads one stream from stdin.
func loadString(t *testing.T, stream string) (*Inventory, error) {
	t.Helper()
	return LoadFiles(context.Background(), []string{"-"}, LoadOptions{Stdin: strings.NewReader(stream)})
}

func labelString(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ",")
}

func workloadString(w *netpol.Workload) string {
	s := w.Key() + " " + labelString(w.Labels)
	for _, p := range w.Ports {
		s += fmt.Sprintf(" %s:%d/%s", p.Name, p.Port, p.Protocol)
	}
	for _, ip := range w.IPs {
		s += " ip=" + ip.String()
	}
	if w.HostNetwork {
		s += " hostNetwork"
	}
	if w.Node != "" {
		s += " node=" + w.Node
	}
	return s
}

// summary renders an inventory one line per item, for comparisons: namespaces
// ("ns"), workloads ("wl"), services ("svc") and policies ("np").
func summary(inv *Inventory) []string {
	var out []string
	for _, ns := range inv.Namespaces {
		out = append(out, "ns "+ns.Name+" "+labelString(ns.Labels))
	}
	for _, w := range inv.Workloads {
		out = append(out, "wl "+workloadString(w))
	}
	for _, s := range inv.Services {
		line := fmt.Sprintf("svc %s/%s %s sel=%s", s.Namespace, s.Name, s.Type, labelString(s.Selector))
		if s.Selector == nil {
			line += "(nil)"
		}
		for _, ip := range s.ClusterIPs {
			line += " ip=" + ip.String()
		}
		if s.Headless {
			line += " headless"
		}
		if s.ExternalName != "" {
			line += " externalName=" + s.ExternalName
		}
		for _, p := range s.Ports {
			line += fmt.Sprintf(" %s:%d->%s/%s", p.Name, p.Port, p.TargetPort.String(), p.Protocol)
			if p.NodePort != 0 {
				line += fmt.Sprintf("(node %d)", p.NodePort)
			}
		}
		out = append(out, line)
	}
	for _, p := range inv.Policies {
		out = append(out, "np "+p.Namespace+"/"+p.Name)
	}
	return out
}

// only keeps the lines with one of the prefixes.
func only(lines []string, prefixes ...string) []string {
	var out []string
	for _, l := range lines {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

func diffLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("%s differ:\n got:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
}
