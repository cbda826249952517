package cargohome

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// ErrNotVendor is returned for a directory that is no cargo directory source.
var ErrNotVendor = errors.New("not a cargo vendor directory")

// entry is one crate directory of a union: the link name and its target.
type entry struct{ name, target string }

// Union returns a directory source holding every crate directory of dirs:
// dirs itself when there is one, else a symlink farm under root named by a
// digest of its entries (so concurrent builds share it and a changed
// listing makes a new one). Cargo allows one replacement for crates.io, so
// a build whose -Zbuild-std resolves the standard library's lock needs the
// union of the project's vendor directory and the toolchain's. Entries are
// taken in order; a later directory's crate whose name is taken is added
// under NAME-VERSION unless it is the same package (by its Cargo.toml), in
// which case the first is kept. Each directory must exist.
func Union(ctx context.Context, root string, dirs ...string) (string, error) {
	var abs []string
	for _, d := range dirs {
		if d == "" {
			continue
		}
		a, err := filepath.Abs(d)
		if err != nil {
			return "", err
		}
		st, err := os.Stat(a)
		if err != nil {
			return "", fmt.Errorf("vendor directory: %w", err)
		}
		if !st.IsDir() {
			return "", fmt.Errorf("%w: %s is not a directory", ErrNotVendor, a)
		}
		abs = append(abs, a)
	}
	switch len(abs) {
	case 0:
		return "", errors.New("vendor union: no directory given")
	case 1:
		return abs[0], nil
	}
	entries, err := unionEntries(ctx, abs)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%s\x00%s\x00", e.name, e.target)
	}
	dir := filepath.Join(root, hex.EncodeToString(h.Sum(nil))[:20])
	if st, err := os.Stat(filepath.Join(dir, ".cook-union")); err == nil && st.Mode().IsRegular() {
		return dir, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(root, ".union.tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	var list strings.Builder
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if err := os.Symlink(e.target, filepath.Join(tmp, e.name)); err != nil {
			return "", err
		}
		fmt.Fprintf(&list, "%s -> %s\n", e.name, e.target)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".cook-union"), []byte(list.String()), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		// another process made the same union first
		if _, serr := os.Stat(filepath.Join(dir, ".cook-union")); serr == nil {
			return dir, nil
		}
		return "", fmt.Errorf("vendor union %s: %w", dir, err)
	}
	return dir, nil
}

// unionEntries lists the crate directories of dirs in order, resolving
// name clashes.
func unionEntries(ctx context.Context, dirs []string) ([]entry, error) {
	taken := map[string]string{} // link name → target
	var out []entry
	for _, d := range dirs {
		des, err := os.ReadDir(d)
		if err != nil {
			return nil, err
		}
		for _, de := range des {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			name := de.Name()
			if strings.HasPrefix(name, ".") {
				continue
			}
			target := filepath.Join(d, name)
			if st, err := os.Stat(target); err != nil || !st.IsDir() {
				continue
			}
			if prev, ok := taken[name]; ok {
				a, aerr := packageID(prev)
				b, berr := packageID(target)
				if aerr != nil || berr != nil {
					return nil, fmt.Errorf("vendor union: %s and %s: %w", prev, target, errors.Join(aerr, berr))
				}
				if a == b {
					continue // the same release twice: keep the first
				}
				name = strings.ReplaceAll(b, " ", "-")
				if _, clash := taken[name]; clash {
					continue // NAME-VERSION already present
				}
			}
			taken[name] = target
			out = append(out, entry{name, target})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

var (
	crateName    = regexp.MustCompile(`^[\p{L}\p{N}_-]+$`) // cargo: letters, numbers, - and _
	crateVersion = regexp.MustCompile(`^[0-9A-Za-z.+-]+$`)
)

// packageID reads "NAME VERSION" from a crate directory's Cargo.toml.
func packageID(dir string) (string, error) {
	p := filepath.Join(dir, "Cargo.toml")
	var m struct {
		Package struct {
			Name    string `toml:"name"`
			Version string `toml:"version"`
		} `toml:"package"`
	}
	if _, err := toml.DecodeFile(p, &m); err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	if m.Package.Name == "" || m.Package.Version == "" {
		return "", fmt.Errorf("%w: %s has no [package] name and version", ErrNotVendor, p)
	}
	// They name a link of the union: only the characters cargo allows.
	if !crateName.MatchString(m.Package.Name) || !crateVersion.MatchString(m.Package.Version) {
		return "", fmt.Errorf("%w: %s: %q %q is no crate name and version", ErrNotVendor, p, m.Package.Name, m.Package.Version)
	}
	return m.Package.Name + " " + m.Package.Version, nil
}

// UnionIdentity names the crates a vendor directory offers, for action
// keys: a digest of its entry names and the size and time of each entry's
// .cargo-checksum.json. The crates' files are not hashed: a vendor
// directory is replaced, not edited, when its crates change.
func UnionIdentity(dir string) (string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			continue
		}
		fmt.Fprintf(h, "%s", de.Name())
		if st, err := os.Stat(filepath.Join(dir, de.Name(), ".cargo-checksum.json")); err == nil {
			fmt.Fprintf(h, " %d %d", st.Size(), st.ModTime().UnixNano())
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}
