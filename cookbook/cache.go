package cookbook

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/zeebo/blake3"

	"github.com/redox-cook/cook/internal/fsutil"
)

// parseCache keeps parsed recipes between loads, in one file (in the work
// directory; cook passes its path with WithParseCache). Each entry is a
// recipe.toml's path relative to the cookbook root, the identity of the
// file when it was read — device, inode, size, and modification and change
// times to the nanosecond, what git's index and Go's build cache trust —
// and the recipe parsed from it with its diagnostics.
//
// A recipe.toml whose identity is the recorded one is taken from the
// cache without being read; any other is read and parsed, and its entry
// replaced. Identity alone cannot tell a file rewritten within one tick of
// the filesystem's clock, with the same size, from the file that was read
// in that tick. So, as git does with the index's own time (its "racy git"
// rule), an entry whose file was changed less than racyWindow before it
// was read is marked racy: such a file is read again and its BLAKE3
// compared with the recorded one before the entry is trusted, until a load
// finds it old enough to trust by identity.
//
// The file is replaced whole, through a temporary file and a rename, when
// a load changed anything; two cook processes sharing it each see an old
// or a new cache, never a torn one, and a damaged file (its checksum says
// so) is ignored and rebuilt. An entry is also bound to the program that
// parsed it (the executable's identity), so that a cook with other parsing
// rules never trusts it.
type parseCache struct {
	path   string
	exe    string // the parser's identity
	cutoff int64  // Unix ns: a file changed at or after it is racy
	old    map[string]cacheEntry

	mu    sync.Mutex
	now   map[string]cacheEntry // the entries of this load
	dirty bool                  // now differs from old
}

// racyWindow is how long after a file's last change its identity is not
// trusted alone: more than the coarsest timestamps of common filesystems
// (FAT keeps 2 seconds), as Go's build cache does with its 2-second
// modification-time cutoff.
const racyWindow = 2 * time.Second

// fileID is a file's identity as stat tells it.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // Unix ns
}

func idOf(st *syscall.Stat_t) fileID {
	return fileID{dev: uint64(st.Dev), ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}
}

// racy reports whether the file changed too recently to be trusted by its
// identity: at or after cutoff (its mtime or ctime).
func (id fileID) racy(cutoff int64) bool { return id.mtime >= cutoff || id.ctime >= cutoff }

// cacheEntry is one recipe file's entry.
type cacheEntry struct {
	id     fileID
	racy   bool
	digest string // hex BLAKE3 of the file, as Recipe.Digest
	recipe string // the recipe, encoded (see encodeRecipe)
}

const (
	cacheMagic   = "cook parse cache"
	cacheVersion = 1
)

// exeIdentity identifies the running program, read once.
var exeIdentity = sync.OnceValue(func() string {
	p, err := os.Executable()
	if err != nil {
		return ""
	}
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		return ""
	}
	id := idOf(&st)
	return fmt.Sprintf("%s %d %d %d %d", p, id.dev, id.ino, id.size, id.mtime)
})

// openParseCache reads the cache at path (none: an empty one). Files
// changed later than racyWindow before now are racy.
func openParseCache(path string) *parseCache {
	c := &parseCache{path: path, exe: exeIdentity(), cutoff: time.Now().Add(-racyWindow).UnixNano(),
		now: map[string]cacheEntry{}}
	if c.exe == "" {
		c.path = "" // no identity for the parser: do not trust or write a cache
		return c
	}
	data, _, err := readFile(path, maxCacheSize) // a regular file only: a FIFO there must not block
	if err == nil {
		c.old, _ = decodeCache(data, c.exe)
	}
	c.dirty = c.old == nil
	return c
}

// recipe returns the recipe of the recipe.toml at p (name, dir and rel as
// Parse takes them): the cached one when the file has not changed, else
// the file read and parsed, with its new entry.
func (c *parseCache) recipe(name, dir, rel, p string) *Recipe {
	var data []byte
	var id fileID
	if e, ok := c.old[rel]; ok && c.path != "" {
		var r *Recipe
		if r, data, id = c.reuse(e, name, dir, rel, p); r != nil {
			return r
		}
	}
	if data == nil {
		var err error
		if data, id, err = readFile(p, maxRecipeSize); err != nil {
			return unreadable(name, dir, rel, err) // not cached: read it again next time
		}
	}
	r := Parse(name, dir, rel, data)
	c.put(rel, cacheEntry{id: id, racy: id.racy(c.cutoff), digest: r.Digest, recipe: encodeRecipe(r)}, true)
	return r
}

// reuse returns the recipe of entry e when the file at p is still what e
// was made from. When it is not, it returns the file's contents and
// identity if it had to read them (a racy entry), so that they are not
// read again.
func (c *parseCache) reuse(e cacheEntry, name, dir, rel, p string) (*Recipe, []byte, fileID) {
	var st syscall.Stat_t
	if syscall.Stat(p, &st) != nil || idOf(&st) != e.id {
		return nil, nil, fileID{}
	}
	changed := false
	if e.racy {
		// Changed too close to when it was read: compare the contents.
		data, id, err := readFile(p, maxRecipeSize)
		if err != nil {
			return nil, nil, fileID{}
		}
		sum := blake3.Sum256(data)
		if id != e.id || hex.EncodeToString(sum[:]) != e.digest {
			return nil, data, id
		}
		if !id.racy(c.cutoff) {
			e.racy, changed = false, true
		}
	}
	r, err := decodeRecipe(e.recipe, name, dir, rel)
	if err != nil {
		return nil, nil, fileID{}
	}
	c.put(rel, e, changed)
	return r, nil, fileID{}
}

func (c *parseCache) put(rel string, e cacheEntry, changed bool) {
	c.mu.Lock()
	c.now[rel] = e
	c.dirty = c.dirty || changed
	c.mu.Unlock()
}

// save writes the cache when this load changed it: entries added, changed
// or no longer racy, or recipe files gone.
func (c *parseCache) save() {
	if c.path == "" || !c.dirty && len(c.now) == len(c.old) {
		return
	}
	// Errors are ignored: without the file the next load parses again.
	_ = fsutil.WriteFileAtomic(c.path, encodeCache(c.now, c.exe), 0o644)
}

// The cache file: the magic, the version, the parser's identity, the
// entries sorted by path, and the BLAKE3 of all that.
func encodeCache(entries map[string]cacheEntry, exe string) []byte {
	keys := make([]string, 0, len(entries))
	size := 64
	for k, e := range entries {
		keys = append(keys, k)
		size += len(k) + len(e.recipe) + 64 + 40
	}
	slices.Sort(keys)
	w := &encoder{b: make([]byte, 0, size)}
	w.str(cacheMagic)
	w.uint(cacheVersion)
	w.str(exe)
	w.uint(uint64(len(keys)))
	for _, k := range keys {
		e := entries[k]
		w.str(k)
		w.uint(e.id.dev)
		w.uint(e.id.ino)
		w.int(e.id.size)
		w.int(e.id.mtime)
		w.int(e.id.ctime)
		w.bool(e.racy)
		w.str(e.digest)
		w.str(e.recipe)
	}
	sum := blake3.Sum256(w.b)
	return append(w.b, sum[:]...)
}

// errBadCache is a cache file that is not one this program wrote.
var errBadCache = errors.New("not a parse cache of this program")

// decodeCache reads a cache file written by the program exe: its entries
// by path (the recipes still encoded), or errBadCache.
func decodeCache(data []byte, exe string) (map[string]cacheEntry, error) {
	if len(data) < 32 {
		return nil, errBadCache
	}
	body, sum := data[:len(data)-32], data[len(data)-32:]
	if want := blake3.Sum256(body); !bytes.Equal(sum, want[:]) {
		return nil, errBadCache
	}
	r := &decoder{s: string(body)}
	if r.str() != cacheMagic || r.uint() != cacheVersion || r.str() != exe || r.err != nil {
		return nil, errBadCache
	}
	n := r.count()
	entries := make(map[string]cacheEntry, n)
	for range n {
		k := r.str()
		var e cacheEntry
		e.id.dev, e.id.ino = r.uint(), r.uint()
		e.id.size, e.id.mtime, e.id.ctime = r.int(), r.int(), r.int()
		e.racy = r.bool()
		e.digest = r.str()
		e.recipe = r.str()
		if r.err != nil {
			return nil, errBadCache
		}
		entries[k] = e
	}
	if r.err != nil || len(r.s) != 0 {
		return nil, errBadCache
	}
	return entries, nil
}

// maxRecipeSize and maxCacheSize bound what readFile reads of a recipe.toml
// (upstream's largest are a few KiB) and of the parse cache (a few MiB for
// upstream's whole tree).
const (
	maxRecipeSize = 1 << 20
	maxCacheSize  = 64 << 20
)

// readFile reads the regular file at p, of at most limit bytes
// (fsutil.ReadRegular), and returns its identity as of the read.
func readFile(p string, limit int64) ([]byte, fileID, error) {
	data, st, err := fsutil.ReadRegular(p, limit)
	if err != nil {
		return nil, fileID{}, err
	}
	return data, idOf(st), nil
}

// encoder appends values: unsigned integers as uvarints, signed ones as
// varints, strings as their length and bytes.
type encoder struct{ b []byte }

func (w *encoder) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *encoder) int(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *encoder) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}
func (w *encoder) str(s string) { w.uint(uint64(len(s))); w.b = append(w.b, s...) }

// decoder reads what encoder wrote from s, keeping the first error; the
// strings it returns share s's memory.
type decoder struct {
	s   string
	err error
}

var errShort = errors.New("truncated")

func (r *decoder) uint() uint64 {
	if r.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < len(r.s) && i < binary.MaxVarintLen64; i++ {
		c := r.s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			r.s = r.s[i+1:]
			return v | uint64(c)<<(7*i)
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	r.err = errShort
	return 0
}

func (r *decoder) int() int64 {
	u := r.uint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (r *decoder) bool() bool {
	if r.err != nil || len(r.s) == 0 {
		r.err = errShort
		return false
	}
	c := r.s[0]
	r.s = r.s[1:]
	if c > 1 {
		r.err = errBadCache
	}
	return c == 1
}

func (r *decoder) str() string {
	n := r.uint()
	if r.err != nil || n > uint64(len(r.s)) {
		r.err = errShort
		return ""
	}
	s := r.s[:n]
	r.s = r.s[n:]
	return s
}

// count reads a number of items, each at least one byte long: never more
// than the bytes left, so that a damaged count allocates nothing large.
func (r *decoder) count() int {
	n := r.uint()
	if n > uint64(len(r.s)) {
		r.err = errShort
		return 0
	}
	return int(n)
}
