package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"github.com/zeebo/blake3"

	"github.com/redox-cook/cook/cache"
	"github.com/redox-cook/cook/cookbook"
	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/internal/fsutil"
	"github.com/redox-cook/cook/script"
)

// Inputs are everything that can change what a node's build produces, by
// name: "recipe" (the recipe directory's files), "source" (the fetched
// source's identity), "dep:<pkg>" and "tool:<pkg>" (each dependency's output
// digest), "toolchain", "target", "cook" (the script templates) and the
// isolation settings. The action key is their hash. Computing them reads
// small files only: it never hashes a source tree or a stage.
type Inputs map[string]string

// Key is the action key: a hash of the sorted inputs, each written as
// "name=value\n".
func (in Inputs) Key() cache.ActionKey {
	list := make([]input, 0, len(in))
	for k, v := range in {
		list = append(list, input{k, v})
	}
	return actionKey(list)
}

// input is one named input, as inputs emits them.
type input struct{ k, v string }

// actionKey hashes list sorted by name, each input written as
// "name=value\n"; of two inputs of one name, the later in list is kept (as
// in the map Inputs builds).
func actionKey(list []input) cache.ActionKey {
	slices.SortStableFunc(list, func(a, b input) int { return strings.Compare(a.k, b.k) })
	size := 0
	for _, in := range list {
		size += len(in.k) + len(in.v) + 2
	}
	buf := make([]byte, 0, size)
	for i, in := range list {
		if i+1 < len(list) && list[i+1].k == in.k {
			continue
		}
		buf = append(buf, in.k...)
		buf = append(buf, '=')
		buf = append(buf, in.v...)
		buf = append(buf, '\n')
	}
	return cache.NewActionKey(buf)
}

// Diff lists the inputs that differ between old and in, as
// "name: old → new" lines, sorted.
func (in Inputs) Diff(old Inputs) []string {
	var out []string
	short := func(s string) string {
		if len(s) > 16 {
			return s[:16]
		}
		if s == "" {
			return "(none)"
		}
		return s
	}
	for k, v := range in {
		if o, ok := old[k]; !ok {
			out = append(out, fmt.Sprintf("%s: new input (%s)", k, short(v)))
		} else if o != v {
			out = append(out, fmt.Sprintf("%s: %s → %s", k, short(o), short(v)))
		}
	}
	for k, o := range old {
		if _, ok := in[k]; !ok {
			out = append(out, fmt.Sprintf("%s: input removed (was %s)", k, short(o)))
		}
	}
	sort.Strings(out)
	return out
}

// templateDigest identifies the generated-script text.
var templateDigest = func() string {
	h := sha256.New()
	io.WriteString(h, script.Version)
	io.WriteString(h, script.BuildPrescript())
	io.WriteString(h, script.SharedPrescript())
	io.WriteString(h, script.BuildPostscript())
	tools := script.Tools("x-unknown-redox", "cargo", nil)
	names := make([]string, 0, len(tools))
	for n := range tools {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		io.WriteString(h, n+tools[n])
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}()

// Inputs computes n's inputs. Dependencies' outputs come from OutputOf, so
// they must have been built (or restored from state) first.
func (b *Builder) Inputs(ctx context.Context, n cookbook.Node) (Inputs, error) {
	in := make(Inputs, 16)
	if err := b.inputs(ctx, n, func(k, v string) { in[k] = v }); err != nil {
		return nil, err
	}
	return in, nil
}

// inputKey is Inputs(ctx, n).Key(), computed without the map: what a
// no-op build does for every node.
func (b *Builder) inputKey(ctx context.Context, n cookbook.Node) (cache.ActionKey, error) {
	list := make([]input, 0, 32)
	if err := b.inputs(ctx, n, func(k, v string) { list = append(list, input{k, v}) }); err != nil {
		return cache.ActionKey{}, err
	}
	return actionKey(list), nil
}

// inputs emits n's inputs, each name with its value; a name emitted twice
// takes the later value.
func (b *Builder) inputs(ctx context.Context, n cookbook.Node, emit func(k, v string)) error {
	r, err := b.Tree.Lookup(n.Name)
	if err != nil {
		return err
	}
	T := b.TargetOf(n)
	emit("target", string(T))
	emit("cook", templateDigest)
	rd, err := recipeDigest(ctx, r)
	if err != nil {
		return fmt.Errorf("%s: %w", n, err)
	}
	emit("recipe", rd)
	if r.Source != nil {
		// the fetched tree's identity: source, patches and what its
		// script downloaded
		info, err := b.sourceInfo(n.Name)
		if err != nil {
			return err
		}
		if info != nil {
			emit("source", info.Key())
		}
	}
	if r.Build.Template == cookbook.TemplateNone {
		return nil
	}
	deps, tools := b.SysrootDeps(n)
	for _, group := range []struct {
		prefix string
		deps   []Dep
	}{{"dep:", deps}, {"tool:", tools}} {
		for _, d := range group.deps {
			b.mu.Lock()
			out, ok := b.outputs[d.Node]
			b.mu.Unlock()
			if !ok {
				if out, err = b.OutputOf(ctx, d.Node); err != nil {
					return err
				}
			}
			emit(group.prefix+d.Name(), out)
		}
	}
	tc, err := b.Toolchain(ctx, T)
	if err != nil {
		return err
	}
	emit("toolchain", tc.Identity())
	switch {
	case b.NoSandbox:
		emit("isolation", "none")
	case b.AllowNetwork[n.Name]:
		emit("isolation", "sandbox+network")
	default:
		emit("isolation", "sandbox")
	}
	if UsesCargo(r, b.Work.Source(n.Name)) {
		emit("cargo-registry", b.CargoRegistry)
		if b.CargoVendor != "" {
			emit("cargo-vendor", b.cargoHomes().Identity(tc.StdVendor))
		}
	}
	if b.Key != nil {
		emit("signing-key", b.keyID())
	}
	return nil
}

// sourceInfo is the record of the recipe name's fetched source: the fetch
// phase's (SourceInfos), else its source_info.toml; nil when it has none.
func (b *Builder) sourceInfo(name string) (*fetch.Info, error) {
	if info := b.SourceInfos[name]; info != nil {
		return info, nil
	}
	return fetch.ReadInfo(b.Work.SourceInfo(name))
}

// keyID is the signing key's public half in hex, computed once.
func (b *Builder) keyID() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keyHex == "" {
		b.keyHex = b.Key.Public().String()
	}
	return b.keyHex
}

// recipeDigest hashes the files of a recipe directory — recipe.toml (whose
// digest the tree already has), its patches and whatever else scripts read
// through $COOKBOOK_RECIPE — leaving out upstream's per-recipe state
// directories. Most recipe directories hold recipe.toml alone, which costs a
// single directory read.
func recipeDigest(ctx context.Context, r *cookbook.Recipe) (string, error) {
	if r.Others == nil && r.Digest != "" {
		return r.Digest, nil // recipe.toml alone: the tree already hashed it
	}
	others, err := fsutil.HashTree(ctx, r.Dir, func(rel string, d fs.DirEntry) bool {
		switch {
		case strings.HasPrefix(d.Name(), "."):
			return true
		case !strings.Contains(rel, "/"):
			switch rel {
			case "recipe.toml", "source", "source.tmp", "target", "source.tar", "source.tar.tmp":
				return true
			}
		}
		return false
	})
	if err != nil {
		return "", err
	}
	h := blake3.New()
	fmt.Fprintf(h, "recipe.toml %s\x00others %s\x00", r.Digest, others)
	return hex.EncodeToString(h.Sum(nil)), nil
}
