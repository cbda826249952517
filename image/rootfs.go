package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"golang.org/x/crypto/argon2"

	"github.com/redox-cook/cook/internal/fsutil"
	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/redoxfs"
)

// Modes the installer's files get under its umask 002.
const (
	defaultDirMode  = 0o755
	defaultFileMode = 0o644
	createdDirMode  = 0o775 // parents created by create_dir_all and package extraction
	installUmask    = 0o002
)

// root assembles the image's root tree in upstream's order. File contents
// stay where they are (config strings, package archives) until the
// RedoxFS writer streams them.
type root struct {
	t       *redoxfs.Tree
	salt    []byte // seeds the password salts: derived from the inputs
	closers []io.Closer
}

func newRoot(salt []byte) *root { return &root{t: redoxfs.NewTree(), salt: salt} }

func (r *root) Close() error {
	var first error
	for _, c := range r.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	r.closers = nil
	return first
}

// resolve follows symlinks in the parent components of p (and in the last
// one when followLast) the way a path lookup in the finished system would,
// so that a package's bin/foo lands in usr/bin/foo when /bin is a link to
// usr/bin. It returns the clean path below the root.
func (r *root) resolve(p string, followLast bool) (string, error) {
	todo := splitClean(p)
	var done []string
	for hops := 0; len(todo) > 0; {
		name := todo[0]
		todo = todo[1:]
		if name == ".." {
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := append(append([]string(nil), done...), name)
		e, ok := r.t.Lookup(strings.Join(cand, "/"))
		if ok && e.Mode&fs.ModeSymlink != 0 && (len(todo) > 0 || followLast) {
			if hops++; hops > 40 {
				return "", fmt.Errorf("%s: too many levels of symbolic links", p)
			}
			if strings.HasPrefix(e.Target, "/") {
				done = nil
			}
			todo = append(splitClean(e.Target), todo...)
			continue
		}
		done = cand
	}
	return strings.Join(done, "/"), nil
}

func splitClean(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			out = append(out, s)
		}
	}
	return out
}

// mkdirAll creates p and missing parents (create_dir_all): new
// directories get mode and owner 0:0; existing ones are kept.
func (r *root) mkdirAll(p string, mode fs.FileMode) (string, error) {
	rp, err := r.resolve(p, true)
	if err != nil {
		return "", err
	}
	elems := splitClean(rp)
	for i := range elems {
		sub := strings.Join(elems[:i+1], "/")
		e, ok := r.t.Lookup(sub)
		if ok {
			if !e.Mode.IsDir() {
				return "", fmt.Errorf("%s: %s exists and is not a directory", p, sub)
			}
			continue
		}
		if err := r.t.Add(redoxfs.Entry{Path: sub, Mode: fs.ModeDir | mode}); err != nil {
			return "", err
		}
	}
	return rp, nil
}

// parentDir resolves p's parent, creating it, and returns the resolved path of p.
func (r *root) parentDir(p string) (string, error) {
	dir, base := path.Split(strings.Trim(p, "/"))
	if base == "" {
		return "", fmt.Errorf("%q: not a file path", p)
	}
	rd, err := r.mkdirAll(dir, createdDirMode)
	if err != nil {
		return "", err
	}
	return path.Join(rd, base), nil
}

// addFile applies one [[files]] entry as upstream's FileConfig::create does.
func (r *root) addFile(f File) error {
	var target string
	var err error
	switch {
	case f.Directory:
		target, err = r.mkdirAll(f.Path, createdDirMode)
		if err != nil {
			return err
		}
		e, _ := r.t.Lookup(target)
		e.Mode = fs.ModeDir | permOf(f.Mode, defaultDirMode)
		if err := r.t.Add(e); err != nil {
			return err
		}
	case f.Symlink:
		target, err = r.parentDir(f.Path)
		if err != nil {
			return err
		}
		return r.t.Add(redoxfs.Entry{Path: target, Mode: fs.ModeSymlink | 0o777, Target: f.Data})
	default:
		target, err = r.parentDir(f.Path)
		if err != nil {
			return err
		}
		if t, err := r.resolve(target, true); err == nil {
			target = t
		}
		data := []byte(f.Data)
		e, exists := r.t.Lookup(target)
		if exists && e.Mode.IsDir() {
			return fmt.Errorf("%s is a directory", f.Path)
		}
		open := redoxfs.BytesOpener(data)
		if f.Append && exists && e.Open != nil {
			open = appendOpener(e.Open, data)
		}
		mode := permOf(f.Mode, defaultFileMode)
		if err := r.t.Add(redoxfs.Entry{Path: target, Mode: mode, UID: e.UID, GID: e.GID, Open: open}); err != nil {
			return err
		}
	}
	if f.UID != nil || f.GID != nil {
		return r.chown(target, f.UID, f.GID, f.RecursiveChown)
	}
	return nil
}

// chown sets the owner fields given (nil: unchanged, as chown(2) with -1)
// of p and, when recursive, of everything below it.
func (r *root) chown(p string, uid, gid *uint32, recursive bool) error {
	var paths []string
	_ = r.t.Walk(func(e redoxfs.Entry) error {
		if e.Path == p || (recursive && (p == "" || strings.HasPrefix(e.Path, p+"/"))) {
			paths = append(paths, e.Path)
		}
		return nil
	})
	for _, q := range paths {
		e, _ := r.t.Lookup(q)
		if uid != nil {
			e.UID = *uid
		}
		if gid != nil {
			e.GID = *gid
		}
		if err := r.t.Add(e); err != nil {
			return err
		}
	}
	return nil
}

func permOf(m *uint32, def fs.FileMode) fs.FileMode {
	v := uint32(def)
	if m != nil {
		v = *m
	}
	return fsutil.ModeFromUnix(v)
}

// appendOpener returns the contents of first followed by data.
func appendOpener(first func() (io.ReadCloser, error), data []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		rc, err := first()
		if err != nil {
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{io.MultiReader(rc, bytes.NewReader(data)), rc}, nil
	}
}

// installPackage adds every entry of a verified package, and its head as
// var/lib/packages/<name>.pkgar_head. The package stays open: its file
// contents are read (and their BLAKE3 checked) while the filesystem is
// written.
func (r *root) installPackage(ctx context.Context, name string, f *pkgar.File) error {
	r.closers = append(r.closers, f)
	for i := range f.Entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := &f.Entries[i]
		if err := pkgar.CheckPath(e.Path); err != nil {
			return fmt.Errorf("package %s: %w", name, err)
		}
		target, err := r.parentDir(e.Path)
		if err != nil {
			return fmt.Errorf("package %s: %s: %w", name, e.Path, err)
		}
		if old, ok := r.t.Lookup(target); ok && old.Mode.IsDir() {
			return fmt.Errorf("package %s: %s: a directory is in the way", name, e.Path)
		}
		if e.IsSymlink() {
			link, err := f.ReadLink(e)
			if err != nil {
				return fmt.Errorf("package %s: %w", name, err)
			}
			err = r.t.Add(redoxfs.Entry{Path: target, Mode: fs.ModeSymlink | 0o777, Target: link})
			if err != nil {
				return fmt.Errorf("package %s: %w", name, err)
			}
			continue
		}
		m := e.Perm() &^ installUmask
		rd := f.Reader
		if err := r.t.Add(redoxfs.Entry{Path: target, Mode: permOf(&m, 0), Open: func() (io.ReadCloser, error) {
			x, err := rd.Open(e)
			if err != nil {
				return nil, fmt.Errorf("package %s: %s: %w", name, e.Path, err)
			}
			return io.NopCloser(x), nil
		}}); err != nil {
			return fmt.Errorf("package %s: %w", name, err)
		}
	}
	head := f.Head()
	if _, err := r.mkdirAll("var/lib/packages", createdDirMode); err != nil {
		return err
	}
	return r.t.Add(redoxfs.Entry{Path: "var/lib/packages/" + name + ".pkgar_head", Mode: 0o644 &^ installUmask, Open: redoxfs.BytesOpener(head)})
}

// packagesToml is /etc/pkg/packages.toml as redox-pkg writes it
// (PackageState: protected, pubkeys per remote, installed per package).
type packagesToml struct {
	Protected []string                     `toml:"protected"`
	Pubkeys   map[string]map[string]string `toml:"pubkeys"`
	Installed map[string]installedPackage  `toml:"installed"`
}

type installedPackage struct {
	Remote       string   `toml:"remote"`
	Blake3       string   `toml:"blake3"`
	Manual       bool     `toml:"manual"`
	StorageSize  uint64   `toml:"storage_size"`
	Dependencies []string `toml:"dependencies"`
	Dependents   []string `toml:"dependents"`
}

func (r *root) writePackagesToml(pkgs []resolved, key pkgar.PublicKey) error {
	pt := packagesToml{
		// redox-pkg's default protected set.
		Protected: []string{"base", "base-initfs", "ion", "kernel", "libgcc", "libstdcxx", "pkg", "relibc"},
		Pubkeys:   map[string]map[string]string{"local": {"pkey": key.String()}},
		Installed: map[string]installedPackage{},
	}
	dependents := map[string][]string{}
	installed := map[string]bool{}
	for _, p := range pkgs {
		installed[p.Name] = true
	}
	for _, p := range pkgs {
		for _, d := range p.Meta.Depends {
			if installed[d] {
				dependents[d] = append(dependents[d], p.Name)
			}
		}
	}
	for _, p := range pkgs {
		deps := dedupSorted(p.Meta.Depends)
		dts := dedupSorted(dependents[p.Name])
		pt.Installed[p.Name] = installedPackage{Remote: "local", Blake3: p.Meta.Blake3, Manual: p.Manual,
			StorageSize: p.Meta.StorageSize, Dependencies: deps, Dependents: dts}
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(pt); err != nil {
		return fmt.Errorf("etc/pkg/packages.toml: %w", err)
	}
	if _, err := r.mkdirAll("etc/pkg", createdDirMode); err != nil {
		return err
	}
	return r.t.Add(redoxfs.Entry{Path: "etc/pkg/packages.toml", Mode: 0o644, Open: redoxfs.BytesOpener(b.Bytes())})
}

func dedupSorted(in []string) []string {
	out := append([]string{}, in...)
	sort.Strings(out)
	return slices.Compact(out)
}

// xdgDirs are created in the home of every user with uid >= 1000.
var xdgDirs = []string{"Desktop", "Documents", "Downloads", "Music", "Pictures", "Public", "Templates", "Videos",
	".config", ".local", ".local/share", ".local/share/Trash", ".local/share/Trash/info"}

const userDirsDirs = `# Produced by redox installer
XDG_DESKTOP_DIR="$HOME/Desktop"
XDG_DOCUMENTS_DIR="$HOME/Documents"
XDG_DOWNLOAD_DIR="$HOME/Downloads"
XDG_MUSIC_DIR="$HOME/Music"
XDG_PICTURES_DIR="$HOME/Pictures"
XDG_PUBLICSHARE_DIR="$HOME/Public"
XDG_TEMPLATES_DIR="$HOME/Templates"
XDG_VIDEOS_DIR="$HOME/Videos"
`

// addUsers creates home directories and writes /etc/passwd, /etc/shadow
// and /etc/group as the installer does: users in name order, uids and
// gids not given take the next free number from 1000.
func (r *root) addUsers(cfg *Config) error {
	names := sortedKeys(cfg.Users)
	nextUID, nextGID := uint32(1000), uint32(1000)
	var passwd, shadow, group strings.Builder
	for _, name := range names {
		u := cfg.Users[name]
		uid, gid := nextUID, nextGID
		if u.UID != nil {
			uid = *u.UID
		}
		if u.GID != nil {
			gid = *u.GID
		}
		if uid >= nextUID {
			nextUID = uid + 1
		}
		if gid >= nextGID {
			nextGID = gid + 1
		}
		gecos := name
		if u.Name != nil {
			gecos = *u.Name
		}
		home := "/home/" + name
		if u.Home != nil {
			home = *u.Home
		}
		shell := "/bin/ion"
		if u.Shell != nil {
			shell = *u.Shell
		}
		if err := r.addHome(home, uid, gid); err != nil {
			return fmt.Errorf("user %s: %w", name, err)
		}
		hash := ""
		if pw := deref(u.Password); pw != "" {
			hash = r.passwordHash(name, pw)
		}
		fmt.Fprintf(&passwd, "%s;%d;%d;%s;%s;%s\n", name, uid, gid, gecos, home, shell)
		fmt.Fprintf(&shadow, "%s;%s\n", name, hash)
		fmt.Fprintf(&group, "%s;x;%d;%s\n", name, gid, name)
	}
	for _, name := range sortedKeys(cfg.Groups) {
		g := cfg.Groups[name]
		gid := nextGID
		if g.GID != nil {
			gid = *g.GID
		}
		if gid >= nextGID {
			nextGID = gid + 1
		}
		fmt.Fprintf(&group, "%s;x;%d;%s\n", name, gid, strings.Join(g.Members, ","))
	}
	if _, err := r.mkdirAll("etc", createdDirMode); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		mode fs.FileMode
		data string
	}{{"etc/passwd", 0o644, passwd.String()}, {"etc/shadow", 0o600, shadow.String()}, {"etc/group", 0o600, group.String()}} {
		p, err := r.resolve(f.name, true)
		if err != nil {
			return err
		}
		if err := r.t.Add(redoxfs.Entry{Path: p, Mode: f.mode, Open: redoxfs.BytesOpener([]byte(f.data))}); err != nil {
			return err
		}
	}
	return nil
}

func (r *root) addHome(home string, uid, gid uint32) error {
	h, err := r.mkdirAll(home, createdDirMode)
	if err != nil {
		return err
	}
	e, _ := r.t.Lookup(h)
	e.Mode = fs.ModeDir | 0o700
	if err := r.t.Add(e); err != nil {
		return err
	}
	if uid >= 1000 {
		for _, d := range xdgDirs {
			if err := r.t.Add(redoxfs.Entry{Path: h + "/" + d, Mode: fs.ModeDir | 0o700}); err != nil {
				return err
			}
		}
		if err := r.t.Add(redoxfs.Entry{Path: h + "/.config/user-dirs.dirs", Mode: 0o600, Open: redoxfs.BytesOpener([]byte(userDirsDirs))}); err != nil {
			return err
		}
		// A copy of /etc/skel: files 0600, directories 0700, no symlinks.
		if skel, err := r.resolve("etc/skel", true); err == nil {
			if se, ok := r.t.Lookup(skel); ok && se.Mode.IsDir() {
				var entries []redoxfs.Entry
				_ = r.t.Walk(func(e redoxfs.Entry) error {
					if strings.HasPrefix(e.Path, skel+"/") {
						entries = append(entries, e)
					}
					return nil
				})
				for _, e := range entries {
					rel := strings.TrimPrefix(e.Path, skel+"/")
					switch {
					case e.Mode.IsDir():
						e.Mode = fs.ModeDir | 0o700
					case e.Mode.Type() == 0:
						e.Mode = 0o600
					default:
						continue
					}
					e.Path = h + "/" + rel
					if err := r.t.Add(e); err != nil {
						return err
					}
				}
			}
		}
	}
	return r.t.Chown(h, uid, gid, true)
}

// Argon2id parameters of rust-argon2's Config::default() (v3).
const (
	argonTime    = 2
	argonMemory  = 19456
	argonThreads = 1
	argonKeyLen  = 32
)

// passwordHash returns the /etc/shadow hash of pw: Argon2id with a salt
// that is, as upstream's, a u64 in uppercase hex (no leading zeros), but derived
// from the image's inputs instead of random so that images reproduce.
func (r *root) passwordHash(user, pw string) string {
	h := sha256.New()
	h.Write(r.salt)
	h.Write([]byte("\x00shadow\x00" + user + "\x00" + pw))
	salt := []byte(fmt.Sprintf("%X", binary.LittleEndian.Uint64(h.Sum(nil))))
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
