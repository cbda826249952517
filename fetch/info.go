package fetch

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"

	"github.com/BurntSushi/toml"
	"github.com/zeebo/blake3"

	"github.com/redox-cook/cook/internal/fsutil"
)

// Identifiers for sources that have no content hash of their own (upstream's
// literals, spec/cookbook.md §4.3).
const (
	LocalSource = "local_source"            // no [source]
	NoTarBlake3 = "no_tar_blake3_hash_info" // a tar source without blake3 (cook records the actual hash instead)
)

// Info is a recipe's source identity, stored as source_info.toml in its work
// directory. The first four fields are upstream's (§4.4), empty ones left
// out as upstream does; the rest are cook's own additions, which upstream
// readers ignore. Key is what a build's action key uses.
type Info struct {
	SourceIdentifier string `toml:"source_identifier,omitempty"` // git commit, tar BLAKE3, tree hash of a path source, local_source
	PatchIdentifier  string `toml:"patch_identifier,omitempty"`  // combined hash of the patches and the script; "" when neither
	CommitIdentifier string `toml:"commit_identifier,omitempty"` // the cookbook tree's own git HEAD, when it is a git checkout
	TimeIdentifier   string `toml:"time_identifier,omitempty"`   // UTC time of the fetch

	Kind      string     `toml:"kind,omitempty"`      // git, tar, path, same_as, none
	Origin    string     `toml:"origin,omitempty"`    // what was asked for: URL, branch, rev, pinned hash, path
	SameAs    string     `toml:"same_as,omitempty"`   // for same_as: the recipe whose source this is
	Downloads []Download `toml:"downloads,omitempty"` // files the source script downloaded through cook's wget/curl
}

// Download is one file a recipe script fetched through cook's shims.
type Download struct {
	URL    string `toml:"url" json:"url"`
	Blake3 string `toml:"blake3" json:"blake3"`
}

// SourceIdent is what the build exports as COOKBOOK_SOURCE_IDENT.
func (i *Info) SourceIdent() string { return i.SourceIdentifier }

// CommitIdent is what the build exports as COOKBOOK_COMMIT_IDENT.
func (i *Info) CommitIdent() string { return i.CommitIdentifier }

// Key is a digest of everything that identifies the fetched tree — source
// identifier, patch identifier and script downloads — for action keys. It
// leaves out the time and the cookbook commit, which do not change the tree.
func (i *Info) Key() string {
	h := blake3.New()
	fmt.Fprintf(h, "source\x00%s\x00patch\x00%s\x00", i.SourceIdentifier, i.PatchIdentifier)
	for _, d := range i.Downloads {
		fmt.Fprintf(h, "download\x00%s\x00%s\x00", d.URL, d.Blake3)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Upstream is the four fields upstream's source_info.toml has, as
// package metadata and repo.toml record them.
func (i *Info) Upstream() Info {
	return Info{SourceIdentifier: i.SourceIdentifier, PatchIdentifier: i.PatchIdentifier,
		CommitIdentifier: i.CommitIdentifier, TimeIdentifier: i.TimeIdentifier}
}

// ReadInfo reads a source_info.toml. A missing file is (nil, nil).
func ReadInfo(path string) (*Info, error) {
	data, _, err := fsutil.ReadRegular(path, 1<<20) // four fields
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var i Info
	if _, err := toml.Decode(string(data), &i); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &i, nil
}

// writeInfo writes i to path, temp-then-rename.
func writeInfo(path string, i *Info) error {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(i); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, buf.Bytes(), 0o644)
}

// PatchIdentifier computes upstream's patch_identifier (§4.4) from the
// contents of the patch files in order and the script text: "" when there are
// neither; otherwise, starting from 32 zero bytes, for each input
// acc[i] = rotl8(acc[i], 2) XOR blake3(input)[i], in hex.
func PatchIdentifier(patches [][]byte, script string) string {
	if len(patches) == 0 && script == "" {
		return ""
	}
	var acc [32]byte
	mix := func(data []byte) {
		h := blake3.Sum256(data)
		for i := range acc {
			acc[i] = bits.RotateLeft8(acc[i], 2) ^ h[i]
		}
	}
	for _, p := range patches {
		mix(p)
	}
	if script != "" {
		mix([]byte(script))
	}
	return hex.EncodeToString(acc[:])
}
