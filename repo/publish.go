package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/internal/fsutil"
	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/workdir"
)

// maxDepth bounds the runtime-dependency walk, as upstream's does.
const maxDepth = 16

// ErrNothingToPublish is wrapped by Publish's error when none of the named
// packages is built.
var ErrNothingToPublish = errors.New("nothing to publish")

// PublishOption configures Publish.
type PublishOption func(*publishOptions) error

type publishOptions struct {
	buildID string
}

// WithBuildID sets repo.toml's build_id (upstream uses the cookbook's
// commit).
func WithBuildID(id string) PublishOption {
	return func(o *publishOptions) error {
		o.buildID = id
		return nil
	}
}

// PublishResult says what Publish did.
type PublishResult struct {
	Dir       string   // <work>/repo/<target>
	Published []string // packages copied (new or changed)
	Unchanged []string // packages already up to date
	Outdated  []string // packages asked for (or depended on) but not built
}

// MarshalJSON writes r as cook repo publish --json prints it: the
// directory as "repo", each list as an array, empty or not.
func (r PublishResult) MarshalJSON() ([]byte, error) {
	list := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return json.Marshal(struct {
		Repo      string   `json:"repo"`
		Published []string `json:"published"`
		Unchanged []string `json:"unchanged"`
		Outdated  []string `json:"outdated"`
	}{r.Dir, list(r.Published), list(r.Unchanged), list(r.Outdated)})
}

// Publish copies built packages into <work>/repo/<target>/, in the layout
// upstream's installer and pkg read, as <pkg>.pkgar and <pkg>.toml,
// regenerates repo.toml from every <pkg>.toml
// there, and writes the work directory's public key as
// <work>/repo/id_ed25519.pub.toml. The names are expanded to their runtime
// closure through each stage.toml's depends; host: names are skipped, a
// package without a stage.toml is recorded as outdated. Before an archive
// is published, pkgar.VerifyStage checks it against the work directory's
// key and its stage directory (complete, every entry's data intact,
// exactly the staged files), and its blake3 against its metadata. Files
// are written under temporary names and renamed into place.
func Publish(ctx context.Context, work workdir.Dir, target string, names []string, opts ...PublishOption) (*PublishResult, error) {
	o := publishOptions{}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	key, err := pkgar.LoadPublicKey(filepath.Join(work.Keys(), pkgar.PublicKeyFile))
	if notExist(err) {
		if _, serr := os.Stat(filepath.Join(work.Keys(), pkgar.SecretKeyFile)); serr == nil {
			// The public key file was lost: rewrite it from the secret key.
			sk, kerr := pkgar.EnsureKeys(work.Keys())
			if kerr != nil {
				return nil, kerr
			}
			key, err = sk.Public(), nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("publishing needs the work directory's key: %w", err)
	}
	closure, outdated, err := runtimeClosure(work, target, names)
	if err != nil {
		return nil, err
	}
	if len(closure) == 0 {
		return nil, fmt.Errorf("%w for %s: none of %s is built", ErrNothingToPublish, target, strings.Join(names, ", "))
	}
	dir := work.Repo(target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("repository: %w", err)
	}
	res := &PublishResult{Dir: dir, Outdated: outdated}
	for _, name := range closure {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		changed, err := publishOne(ctx, work, target, dir, name, key)
		if err != nil {
			return nil, err
		}
		if changed {
			res.Published = append(res.Published, name)
		} else {
			res.Unchanged = append(res.Unchanged, name)
		}
	}
	if err := writeIndex(work, target, dir, outdated, o.buildID); err != nil {
		return nil, err
	}
	pub, err := os.ReadFile(filepath.Join(work.Keys(), pkgar.PublicKeyFile))
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(filepath.Dir(dir), pkgar.PublicKeyFile), pub, 0o644); err != nil {
		return nil, err
	}
	return res, nil
}

// stagePaths returns the stage.toml and stage.pkgar of a package name.
func stagePaths(work workdir.Dir, target, name string) (toml, archive string, err error) {
	_, recipe, opt, err := PackageName(name)
	if err != nil {
		return "", "", err
	}
	return work.StageToml(recipe, target, opt), work.Pkgar(recipe, target, opt), nil
}

// runtimeClosure walks names and their stage.toml depends (depth-first,
// bounded), returning the built packages in sorted order and the names
// whose stage.toml is missing.
func runtimeClosure(work workdir.Dir, target string, names []string) (built, outdated []string, err error) {
	seen := map[string]bool{}
	var walk func(name string, depth int, path []string) error
	walk = func(name string, depth int, path []string) error {
		if strings.HasPrefix(name, "host:") {
			return nil
		}
		name = strings.TrimPrefix(name, "target:")
		if seen[name] {
			return nil
		}
		if depth >= maxDepth {
			return fmt.Errorf("runtime dependencies nest deeper than %d: %s", maxDepth, strings.Join(append(path, name), " → "))
		}
		seen[name] = true
		tomlPath, _, err := stagePaths(work, target, name)
		if err != nil {
			return err
		}
		p, err := ReadPackage(tomlPath)
		if notExist(err) {
			outdated = append(outdated, name)
			return nil
		}
		if err != nil {
			return fmt.Errorf("package %s: %w", name, err)
		}
		built = append(built, name)
		for _, d := range p.Depends {
			if err := walk(d, depth+1, append(path, name)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range names {
		if err := walk(n, 0, nil); err != nil {
			return nil, nil, err
		}
	}
	slices.Sort(built)
	slices.Sort(outdated)
	return built, outdated, nil
}

// publishOne copies one package into the repository when its metadata
// differs from what is published (or the archive is missing there).
func publishOne(ctx context.Context, work workdir.Dir, target, dir, name string, key pkgar.PublicKey) (bool, error) {
	tomlPath, archive, err := stagePaths(work, target, name)
	if err != nil {
		return false, err
	}
	meta, err := os.ReadFile(tomlPath)
	if err != nil {
		return false, fmt.Errorf("package %s: %w", name, err)
	}
	p, err := ReadPackage(tomlPath)
	if err != nil {
		return false, fmt.Errorf("package %s: %w", name, err)
	}
	dstToml := filepath.Join(dir, name+".toml")
	dstArchive := filepath.Join(dir, name+".pkgar")
	if p.Blake3 == "" {
		// A meta package: metadata only.
		if old, err := os.ReadFile(dstToml); err == nil && bytes.Equal(old, meta) {
			return false, nil
		}
		os.Remove(dstArchive)
		return true, fsutil.WriteFileAtomic(dstToml, meta, 0o644)
	}
	if old, err := os.ReadFile(dstToml); err == nil && bytes.Equal(old, meta) {
		if _, err := os.Stat(dstArchive); err == nil {
			return false, nil
		}
	}
	_, recipe, opt, err := PackageName(name)
	if err != nil {
		return false, err
	}
	if err := pkgar.VerifyStage(ctx, archive, work.Stage(recipe, target, opt), key); err != nil {
		return false, fmt.Errorf("package %s: refusing to publish: %w", name, err)
	}
	f, err := pkgar.Open(archive, key)
	if err != nil {
		return false, fmt.Errorf("package %s: %w", name, err)
	}
	defer f.Close()
	if got := f.Header.Blake3.String(); got != p.Blake3 {
		return false, fmt.Errorf("package %s: %s has blake3 %s but %s says %s; rebuild it", name, archive, got, tomlPath, p.Blake3)
	}
	if err := linkOrCopy(archive, dstArchive); err != nil {
		return false, fmt.Errorf("package %s: %w", name, err)
	}
	if err := fsutil.WriteFileAtomic(dstToml, meta, 0o644); err != nil {
		return false, err
	}
	return true, nil
}

// linkOrCopy puts src at dst via a temporary name: a hard link when both
// are on one filesystem (packages are never modified in place, only
// replaced by rename, so sharing the inode is safe), else a copy.
func linkOrCopy(src, dst string) error {
	dir, base := filepath.Dir(dst), filepath.Base(dst)
	var tmp string
	for i := 0; ; i++ {
		tmp = filepath.Join(dir, fmt.Sprintf(".%s.%d.%d.tmp", base, os.Getpid(), i))
		err := os.Link(src, tmp)
		if err == nil {
			break
		}
		if errors.Is(err, fs.ErrExist) && i < 100 {
			continue
		}
		// Another filesystem, or links not supported: copy.
		f, cerr := os.CreateTemp(dir, "."+base+".*.tmp")
		if cerr != nil {
			return cerr
		}
		tmp = f.Name()
		f.Close()
		os.Remove(tmp) // CopyFile makes it anew, never writing through what is there
		if err := fsutil.CopyFile(src, tmp, 0o644); err != nil {
			os.Remove(tmp)
			return err
		}
		break
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeIndex regenerates repo.toml from the <pkg>.toml files in dir.
func writeIndex(work workdir.Dir, target, dir string, outdated []string, buildID string) error {
	indexPath := filepath.Join(dir, "repo.toml")
	old, err := ReadRepository(indexPath)
	if err != nil && !notExist(err) {
		return fmt.Errorf("repository index: %w", err)
	}
	idx := &Repository{BuildID: buildID, Packages: map[string]string{}, OutdatedPackages: map[string]fetch.Info{}}
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("repository: %w", err)
	}
	for _, de := range des {
		n := de.Name()
		if !strings.HasSuffix(n, ".toml") || n == "repo.toml" || strings.HasPrefix(n, ".") || !de.Type().IsRegular() {
			continue
		}
		p, err := ReadPackage(filepath.Join(dir, n))
		if err != nil {
			return fmt.Errorf("repository: %w", err)
		}
		v := p.Blake3
		if v == "" {
			v = p.Version
		}
		idx.Packages[strings.TrimSuffix(n, ".toml")] = v
	}
	for _, name := range outdated {
		if old != nil {
			if si, ok := old.OutdatedPackages[name]; ok {
				idx.OutdatedPackages[name] = si // identity when it first went missing
				continue
			}
		}
		_, recipe, _, err := PackageName(name)
		if err != nil {
			return err
		}
		info, err := fetch.ReadInfo(work.SourceInfo(recipe))
		if err != nil {
			return fmt.Errorf("package %s: %w", name, err)
		}
		if info == nil {
			info = &fetch.Info{}
		}
		idx.OutdatedPackages[name] = info.Upstream()
	}
	if old != nil {
		// Still outdated from an earlier publish and not published since.
		for name, si := range old.OutdatedPackages {
			if _, ok := idx.Packages[name]; !ok {
				if _, ok := idx.OutdatedPackages[name]; !ok {
					idx.OutdatedPackages[name] = si
				}
			}
		}
	}
	data, err := idx.Marshal()
	if err != nil {
		return fmt.Errorf("repository index: %w", err)
	}
	return fsutil.WriteFileAtomic(indexPath, data, 0o644)
}

// Built lists the packages built for target in the work directory: every
// recipe with a stage.toml, and each of its optional packages with a
// stage.<opt>.toml, sorted. Host recipes are left out.
func Built(work workdir.Dir, target string) ([]string, error) {
	des, err := os.ReadDir(work.Recipes())
	if notExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, de := range des {
		recipe := de.Name()
		if !de.IsDir() || strings.HasPrefix(recipe, "host:") {
			continue
		}
		files, err := os.ReadDir(work.Target(recipe, target))
		if notExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			n := f.Name()
			if n == "stage.toml" {
				out = append(out, recipe)
			} else if opt, ok := strings.CutPrefix(n, "stage."); ok && strings.HasSuffix(opt, ".toml") {
				opt = strings.TrimSuffix(opt, ".toml")
				if opt != "" && !strings.Contains(opt, ".") {
					out = append(out, recipe+"."+opt)
				}
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
