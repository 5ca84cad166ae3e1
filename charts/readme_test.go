package charts

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func readmeText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readmeAnchors returns the GitHub anchors of the README's headings.
func readmeAnchors(readme string) []string {
	var anchors []string
	for _, line := range strings.Split(readme, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range title {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			}
		}
		anchors = append(anchors, b.String())
	}
	return anchors
}

// leafPaths lists the dotted paths of values.yaml's leaves (an empty map or
// list counts as a leaf).
func leafPaths(prefix string, v any, out *[]string) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		*out = append(*out, prefix)
		return
	}
	for k, child := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		leafPaths(p, child, out)
	}
}

// The chart README documents every value, every metric Redline exports and
// has a runbook section per alert (TestAlerts checks the links).
func TestReadme(t *testing.T) {
	readme := readmeText(t)
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	var paths []string
	leafPaths("", values, &paths)
	slices.Sort(paths)
	for _, p := range paths {
		if !strings.Contains(readme, "| `"+p+"` |") {
			t.Errorf("value %s is not in the README's values table (a row starting | `%s` |)", p, p)
		}
	}

	// Metric names in the Go sources (outside the tests).
	metric := regexp.MustCompile(`"(redline_[a-z0-9_]+)"`)
	found := map[string]bool{}
	root := repoRoot(t)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() && (rel == "bin" || rel == "hack" || rel == "charts" || strings.HasPrefix(d.Name(), ".")) && rel != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range metric.FindAllStringSubmatch(string(src), -1) {
			found[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Fatal("no redline_* metric found in the sources")
	}
	for name := range found {
		if !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("metric %s is not documented in charts/redline/README.md", name)
		}
	}
}
