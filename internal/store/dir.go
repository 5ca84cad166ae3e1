package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SchemaVersion is the on-disk layout this package reads and writes (keys,
// values, marker). A store written with another version is refused with
// ErrIncompatibleSchema.
const SchemaVersion = 2

// MarkerFile names the file that says a directory is a Redline store. It is
// written (atomically) before Badger touches a new directory.
const MarkerFile = "REDLINE_STORE"

// markerTemp is where the marker is written before it is renamed into
// place; a directory holding nothing else was left by an interrupted
// creation and is ours to finish.
const markerTemp = "." + MarkerFile + ".tmp"

const markerMagic = "redline edge store"

var (
	// ErrNotRedlineDir: the data directory holds files that are not a
	// Redline store. Nothing in it was changed.
	ErrNotRedlineDir = errors.New("not a Redline data directory")
	// ErrIncompatibleSchema: the data directory is a Redline store of
	// another schema version. Nothing in it was changed.
	ErrIncompatibleSchema = errors.New("incompatible Redline store schema")
)

func markerContent(schema int) []byte {
	return fmt.Appendf(nil, "%s\nschema %d\n", markerMagic, schema)
}

// prepareDir inspects dir before anything writes to it:
//   - missing or empty (or holding only an interrupted marker): created and
//     marked as a Redline store of SchemaVersion;
//   - holding a marker of SchemaVersion: used as is;
//   - holding a marker of another version: ErrIncompatibleSchema;
//   - anything else: ErrNotRedlineDir.
//
// In the two error cases the directory is not modified.
func prepareDir(dir string) (created bool, err error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return false, fmt.Errorf("create data directory %s: %w", dir, err)
		}
		return true, writeMarker(dir)
	case err != nil:
		return false, fmt.Errorf("inspect data directory %s: %w", dir, err)
	case !fi.IsDir():
		return false, fmt.Errorf("%w: %s is a file, not a directory: point the store at a directory (a new or empty one starts a new store)", ErrNotRedlineDir, dir)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("inspect data directory %s: %w", dir, err)
	}
	hasMarker, onlyTemp := false, true
	for _, e := range entries {
		if e.Name() == MarkerFile {
			hasMarker = true
		}
		if e.Name() != markerTemp {
			onlyTemp = false
		}
	}
	if !hasMarker {
		if onlyTemp {
			// Empty, or an interrupted creation of ours.
			return true, writeMarker(dir)
		}
		names := make([]string, 0, 3)
		for _, e := range entries[:min(3, len(entries))] {
			names = append(names, e.Name())
		}
		return false, fmt.Errorf("%w: %s is not empty (it holds %s) and has no %s file: "+
			"point the store at a new or empty directory, or at one a Redline store was created in",
			ErrNotRedlineDir, dir, strings.Join(names, ", ")+more(len(entries)-len(names)), MarkerFile)
	}
	schema, err := readMarker(filepath.Join(dir, MarkerFile))
	if err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrNotRedlineDir, dir, err)
	}
	if schema != SchemaVersion {
		return false, fmt.Errorf("%w: %s holds a store of schema %d, this Redline reads schema %d: "+
			"run the Redline version that wrote it, or point the store at a new directory "+
			"(the recorded traffic in the old one is not migrated)", ErrIncompatibleSchema, dir, schema, SchemaVersion)
	}
	return false, nil
}

func more(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" and %d more", n)
}

func readMarker(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > 4096 {
		return 0, fmt.Errorf("%s is not a Redline marker (%d bytes)", path, len(b))
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	if !sc.Scan() || sc.Text() != markerMagic {
		return 0, fmt.Errorf("%s is not a Redline marker (first line is not %q)", path, markerMagic)
	}
	if !sc.Scan() {
		return 0, fmt.Errorf("%s: missing schema line", path)
	}
	v, ok := strings.CutPrefix(sc.Text(), "schema ")
	n, err := strconv.Atoi(v)
	if !ok || err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: bad schema line %q", path, sc.Text())
	}
	return n, nil
}

// writeMarker writes the marker atomically: temp file, fsync, rename,
// fsync of the directory.
func writeMarker(dir string) error {
	tmp := filepath.Join(dir, markerTemp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("create store marker in %s: %w", dir, err)
	}
	_, err = f.Write(markerContent(SchemaVersion))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, MarkerFile))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("write store marker in %s: %w", dir, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
