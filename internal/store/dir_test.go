package store_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/redline-dev/redline/internal/flow"
	"github.com/redline-dev/redline/internal/store"
)

// treeDigest describes every file and folder under dir: path, mode, size,
// modification time and content hash.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %s %d %d", path, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %x", sha256.Sum256(data))
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// redlineStore makes a Redline store with one edge in dir and closes it.
func redlineStore(t *testing.T, dir string) {
	t.Helper()
	s, err := store.Open(context.Background(), testOptions(dir, newClock(t0)))
	if err != nil {
		t.Fatal(err)
	}
	s.Record(tcp(wl("a", "x"), wl("b", "y"), 80), t0, flow.VerdictForwarded, nil, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesForeignDirectories(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) string // returns the path to open
		wantErr error
		wantMsg string
	}{
		{"a file in it", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, "data", "notes.txt"), "precious")
			return filepath.Join(dir, "data")
		}, store.ErrNotRedlineDir, "has no REDLINE_STORE file"},
		{"a folder in it", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, "data", "sub", "x"), "x")
			return filepath.Join(dir, "data")
		}, store.ErrNotRedlineDir, "holds sub"},
		{"another Badger database", func(t *testing.T, dir string) string {
			db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "data")).WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("k"), []byte("v")) }); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "data")
		}, store.ErrNotRedlineDir, "000001.sst"},
		{"a marker of something else", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, "data", store.MarkerFile), "hello\n")
			return filepath.Join(dir, "data")
		}, store.ErrNotRedlineDir, "not a Redline marker"},
		{"a file, not a directory", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, "data"), "x")
			return filepath.Join(dir, "data")
		}, store.ErrNotRedlineDir, "is a file"},
		{"a newer schema", func(t *testing.T, dir string) string {
			redlineStore(t, filepath.Join(dir, "data"))
			writeFile(t, filepath.Join(dir, "data", store.MarkerFile), "redline edge store\nschema 99\n")
			return filepath.Join(dir, "data")
		}, store.ErrIncompatibleSchema, "schema 99, this Redline reads schema 2"},
		{"schema 1 (endpoint encodings in keys)", func(t *testing.T, dir string) string {
			redlineStore(t, filepath.Join(dir, "data"))
			writeFile(t, filepath.Join(dir, "data", store.MarkerFile), "redline edge store\nschema 1\n")
			return filepath.Join(dir, "data")
		}, store.ErrIncompatibleSchema, "schema 1, this Redline reads schema 2"},
		{"an unreadable schema line", func(t *testing.T, dir string) string {
			redlineStore(t, filepath.Join(dir, "data"))
			writeFile(t, filepath.Join(dir, "data", store.MarkerFile), "redline edge store\nschema one\n")
			return filepath.Join(dir, "data")
		}, store.ErrNotRedlineDir, "bad schema line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			path := tt.setup(t, root)
			before := treeDigest(t, root)
			s, err := store.Open(context.Background(), testOptions(path, newClock(t0)))
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !errorsIs(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Open = %v, want %v mentioning %q", err, tt.wantErr, tt.wantMsg)
			}
			if after := treeDigest(t, root); after != before {
				t.Errorf("directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func TestOpenCreatesOrReusesRedlineDirectories(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"missing", func(t *testing.T, dir string) {}},
		{"empty", func(t *testing.T, dir string) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"interrupted creation", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "."+store.MarkerFile+".tmp"), "redline")
		}},
		{"existing store", func(t *testing.T, dir string) { redlineStore(t, dir) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "a", "data")
			tt.setup(t, dir)
			s := openStore(t, testOptions(dir, newClock(t0)))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, store.MarkerFile))
			if err != nil || string(b) != "redline edge store\nschema 2\n" {
				t.Errorf("marker = %q, %v", b, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "."+store.MarkerFile+".tmp")); err == nil {
				t.Error("temporary marker left behind")
			}
			s = openStore(t, testOptions(dir, newClock(t0)))
			if _, _, err := s.WorkloadEdges(ctx, wl("a", "x"), time.Time{}, time.Time{}); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestOpenWhileInUse(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testOptions(dir, newClock(t0)))
	s2, err := store.Open(context.Background(), testOptions(dir, newClock(t0)))
	if err == nil {
		_ = s2.Close()
		t.Fatal("second Open of a store in use succeeded")
	}
	if errorsIs(err, store.ErrNotRedlineDir) || !strings.Contains(err.Error(), "another Redline process") {
		t.Errorf("second Open = %v", err)
	}
	if err := s.Healthy(); err != nil {
		t.Errorf("first store after a refused second Open: %v", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	for name, mutate := range map[string]func(*store.Options){
		"no dir":               func(o *store.Options) { o.Dir = "" },
		"short retention":      func(o *store.Options) { o.Retention = time.Hour },
		"negative interval":    func(o *store.Options) { o.FlushInterval = -time.Second },
		"resident below batch": func(o *store.Options) { o.FlushEdges = 10; o.MaxResidentEdges = 5 },
		"tiny memory budget":   func(o *store.Options) { o.MemoryBudget = 1 << 20 },
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			opts := testOptions(dir, newClock(t0))
			mutate(&opts)
			if s, err := store.Open(context.Background(), opts); err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if _, err := os.Stat(dir); err == nil {
				t.Error("Open with bad options created the directory")
			}
		})
	}
}
