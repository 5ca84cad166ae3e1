package inventory

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// stdinName is how stdin is named in errors and warnings.
const stdinName = "stdin"

// source is one stream to read: a file or stdin.
type source struct {
	name  string // as shown to people: the path as given or found, or "stdin"
	stdin bool
}

// manifestExt reports whether a file found in a folder is read.
func manifestExt(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// expandPaths turns the paths given into the streams to read, in order:
// files as given (whatever their extension), folders walked in lexical
// order. A file reached twice (given twice, or inside a folder also given)
// is read once.
func expandPaths(paths []string, warnings *[]string) ([]source, error) {
	var out []source
	seen := make(map[string]bool)
	add := func(path string) {
		key := path
		if abs, err := filepath.Abs(path); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, source{name: path})
		}
	}
	stdin := false
	for _, p := range paths {
		if p == "-" {
			if !stdin {
				stdin = true
				out = append(out, source{name: stdinName, stdin: true})
			}
			continue
		}
		if p == "" {
			return nil, errors.New("empty path given: pass a file, a folder or - for stdin")
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("read manifests: %w", err)
		}
		if !info.IsDir() {
			add(p)
			continue
		}
		found := 0
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !manifestExt(d.Name()) {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				// WalkDir does not follow links; read linked files, not
				// linked folders (they could loop).
				target, err := os.Stat(path)
				if err != nil {
					return err
				}
				if !target.Mode().IsRegular() {
					*warnings = append(*warnings, oneLine(path+": not a regular file: skipped"))
					return nil
				}
			} else if !d.Type().IsRegular() {
				return nil
			}
			found++
			add(path)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read manifests in %s: %w", p, err)
		}
		if found == 0 {
			*warnings = append(*warnings, oneLine(p+": no *.yaml, *.yml or *.json files in this folder"))
		}
	}
	return out, nil
}

// readSource reads a whole stream, refusing more than opts.MaxFileBytes.
func readSource(src source, opts LoadOptions) ([]byte, error) {
	limit := opts.MaxFileBytes
	tooBig := func() error {
		return &ManifestError{Source: src.name, Problem: fmt.Sprintf(
			"larger than the %s limit for one file: split it into smaller files", formatSize(limit))}
	}
	var r io.Reader
	if src.stdin {
		r = opts.Stdin
	} else {
		f, err := os.Open(src.name)
		if err != nil {
			return nil, fmt.Errorf("read manifests: %w", err)
		}
		defer f.Close()
		if info, err := f.Stat(); err == nil && info.Mode().IsRegular() && info.Size() > limit {
			return nil, tooBig()
		}
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read manifests from %s: %w", src.name, err)
	}
	if int64(len(data)) > limit {
		return nil, tooBig()
	}
	return data, nil
}
