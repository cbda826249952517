package image

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/redox-cook/cook/internal/fsutil"
	"github.com/redox-cook/cook/workdir"
)

// Config is a filesystem config in upstream's installer format
// (config/*.toml): what goes into an image. Load merges its includes.
type Config struct {
	Include  []string               `toml:"include,omitempty"`
	General  General                `toml:"general"`
	Packages map[string]PackageRule `toml:"packages"`
	Files    []File                 `toml:"files"`
	Users    map[string]User        `toml:"users"`
	Groups   map[string]Group       `toml:"groups"`

	// Name is the config's name (its file name without .toml), which the
	// image records as os-release VARIANT.
	Name string `toml:"-"`
	// Path is the file the config was loaded from.
	Path string `toml:"-"`
}

// General is the [general] table. Absent keys are nil: an included file's
// value then stays.
type General struct {
	Prompt           *bool   `toml:"prompt,omitempty"`
	FilesystemSize   *uint32 `toml:"filesystem_size,omitempty"`
	EFIPartitionSize *uint32 `toml:"efi_partition_size,omitempty"`
	SkipPartitions   *bool   `toml:"skip_partitions,omitempty"`
	EncryptDisk      *string `toml:"encrypt_disk,omitempty"`
	LiveDisk         *bool   `toml:"live_disk,omitempty"`
	WriteBootloader  *string `toml:"write_bootloader,omitempty"`
	NoMount          *bool   `toml:"no_mount,omitempty"`
	Cookbook         *string `toml:"cookbook,omitempty"`
}

// Rules of [packages] values.
const (
	RuleDefault = ""       // name = {}
	RuleSource  = "source" // build from source
	RuleLocal   = "local"  // build from the existing source tree
	RuleBinary  = "binary" // take the prebuilt package
	RuleIgnore  = "ignore" // neither build nor install
)

// PackageRule is one [packages] value: a rule string, or a table
// ({} or {version, git, path}, which upstream parses and ignores).
type PackageRule struct {
	Rule    string
	Version string
	Git     string
	Path    string
}

// UnmarshalTOML implements toml.Unmarshaler.
func (p *PackageRule) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		switch v {
		case RuleSource, RuleLocal, RuleBinary, RuleIgnore:
			p.Rule = v
			return nil
		}
		return fmt.Errorf("invalid package rule %q (want source, local, binary, ignore or {})", v)
	case map[string]any:
		for k, x := range v {
			s, ok := x.(string)
			if !ok {
				return fmt.Errorf("package table key %s: want a string", k)
			}
			switch k {
			case "version":
				p.Version = s
			case "git":
				p.Git = s
			case "path":
				p.Path = s
			}
		}
		return nil
	}
	return fmt.Errorf("invalid package value %v: want a rule string or a table", v)
}

// MarshalTOML implements toml.Marshaler.
func (p PackageRule) MarshalTOML() ([]byte, error) {
	if p.Rule != "" {
		return []byte(fmt.Sprintf("%q", p.Rule)), nil
	}
	var parts []string
	for _, kv := range [][2]string{{"version", p.Version}, {"git", p.Git}, {"path", p.Path}} {
		if kv[1] != "" {
			parts = append(parts, fmt.Sprintf("%s = %q", kv[0], kv[1]))
		}
	}
	return []byte("{" + strings.Join(parts, ", ") + "}"), nil
}

// File is one [[files]] entry.
type File struct {
	Path           string  `toml:"path"`
	Data           string  `toml:"data"`
	Symlink        bool    `toml:"symlink,omitempty"`
	Directory      bool    `toml:"directory,omitempty"`
	Mode           *uint32 `toml:"mode,omitempty"`
	UID            *uint32 `toml:"uid,omitempty"`
	GID            *uint32 `toml:"gid,omitempty"`
	RecursiveChown bool    `toml:"recursive_chown,omitempty"`
	Postinstall    bool    `toml:"postinstall,omitempty"`
	Append         bool    `toml:"append,omitempty"`
}

// User is one [users.NAME] table.
type User struct {
	Password *string `toml:"password,omitempty"`
	UID      *uint32 `toml:"uid,omitempty"`
	GID      *uint32 `toml:"gid,omitempty"`
	Name     *string `toml:"name,omitempty"`
	Home     *string `toml:"home,omitempty"`
	Shell    *string `toml:"shell,omitempty"`
}

// Group is one [groups.NAME] table.
type Group struct {
	GID     *uint32  `toml:"gid,omitempty"`
	Members []string `toml:"members"`
}

// ConfigError is an error in a config file, at a line when known.
type ConfigError struct {
	File string
	Line int // 0 when unknown
	Err  error
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// maxIncludeDepth bounds include recursion (and so include cycles).
const maxIncludeDepth = 32

// maxConfigSize bounds one config file (upstream's are a few KiB).
const maxConfigSize = 1 << 20

// LoadConfig reads the config file at path (a host path) with its includes
// merged as upstream's installer does.
func LoadConfig(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	return loader{fsys: os.DirFS("/"), rooted: true, loads: new(int)}.config(strings.TrimPrefix(abs, "/"))
}

// LoadConfigFS is LoadConfig for a file of fsys (an unrooted slash path).
// Include paths are relative to the including file.
func LoadConfigFS(fsys fs.FS, name string) (*Config, error) {
	return loader{fsys: fsys, loads: new(int)}.config(name)
}

func (l loader) config(name string) (*Config, error) {
	name = path.Clean(name)
	c, err := l.load(name, 0)
	if err != nil {
		return nil, err
	}
	c.Name = strings.TrimSuffix(path.Base(name), ".toml")
	c.Path = l.show(name)
	c.Include = nil
	return c, nil
}

// loader reads config files from fsys; rooted means fsys is the host's "/"
// and names are shown as absolute paths. loads counts the files read.
type loader struct {
	fsys   fs.FS
	rooted bool
	loads  *int
}

// maxConfigLoads bounds the config files one config loads with its
// includes, counting each time a file is included: a file including
// another twice, which includes a third twice, and so on, would make 2^32
// loads within maxIncludeDepth.
const maxConfigLoads = 1024

// read reads one config file: on the host, a regular file of at most
// maxConfigSize (a FIFO would hang the load, a device or a huge file fill
// the memory).
func (l loader) read(name string) ([]byte, error) {
	if l.rooted {
		data, _, err := fsutil.ReadRegular("/"+name, maxConfigSize)
		return data, err
	}
	return fs.ReadFile(l.fsys, name) // cook's own configs
}

func (l loader) show(name string) string {
	if l.rooted {
		return "/" + name
	}
	return name
}

// loadConfig is upstream's Config::from_file: the list is each include
// (itself loaded recursively) in order and then the file; the first is the
// base and every later one is merged into it.
func (l loader) load(name string, depth int) (*Config, error) {
	shown := l.show(name)
	if depth > maxIncludeDepth {
		return nil, &ConfigError{File: shown, Err: errors.New("includes nested too deeply (an include cycle?)")}
	}
	if *l.loads++; *l.loads > maxConfigLoads {
		return nil, &ConfigError{File: shown, Err: fmt.Errorf("more than %d config files loaded through includes (the same files included over and over?)", maxConfigLoads)}
	}
	src, err := l.read(name)
	if err != nil {
		return nil, fmt.Errorf("filesystem config: %w", err)
	}
	c, err := parseConfig(shown, src)
	if err != nil {
		return nil, err
	}
	var list []*Config
	for _, inc := range c.Include {
		p := path.Join(path.Dir(name), inc)
		if path.IsAbs(inc) {
			p = strings.TrimPrefix(path.Clean(inc), "/")
		}
		ic, err := l.load(p, depth+1)
		if err != nil {
			return nil, fmt.Errorf("%s: include %q: %w", shown, inc, err)
		}
		list = append(list, ic)
	}
	list = append(list, c)
	base := list[0]
	for _, o := range list[1:] {
		base.merge(o)
	}
	return base, nil
}

var tomlLineRe = regexp.MustCompile(`^toml: line (\d+) `)

// parseConfig decodes one file without following its includes.
func parseConfig(file string, src []byte) (*Config, error) {
	var c Config
	_, err := toml.NewDecoder(bytes.NewReader(src)).Decode(&c)
	if err != nil {
		ce := &ConfigError{File: file, Err: err}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			ce.Err = errors.New(pe.Message)
			// the line the offending byte is on (the lexer's own line
			// count is one ahead when that byte is a newline)
			ce.Line = pe.Position.Line
			if s := pe.Position.Start; s >= 0 && s <= len(src) {
				ce.Line = 1 + bytes.Count(src[:s], []byte("\n"))
			}
			if name, ok := strings.CutPrefix(pe.LastKey, "packages."); ok {
				// a rule PackageRule refused: the error is the key's
				if l := packageLines(src)[strings.Trim(name, `"'`)]; l > 0 {
					ce.Line = l
				}
				ce.Err = fmt.Errorf("[packages] %s: %s", strings.Trim(name, `"'`), pe.Message)
			}
		} else if m := tomlLineRe.FindStringSubmatch(err.Error()); m != nil {
			// the TOML library reports type mismatches as text only
			ce.Line, _ = strconv.Atoi(m[1])
		}
		return nil, ce
	}
	if len(c.Packages) > 0 {
		lines := packageLines(src)
		for name := range c.Packages {
			// a package name becomes a file name in the repository
			if err := workdir.CheckName(name); err != nil || strings.HasPrefix(name, ".") {
				return nil, &ConfigError{File: file, Line: lines[name], Err: fmt.Errorf("[packages] %s: not a package name", strconv.Quote(name))}
			}
		}
	}
	for i, f := range c.Files {
		if f.Path == "" {
			return nil, &ConfigError{File: file, Line: filesLine(src, i), Err: fmt.Errorf("[[files]] entry %d has no path", i+1)}
		}
		if f.Symlink && f.Directory {
			return nil, &ConfigError{File: file, Line: filesLine(src, i), Err: fmt.Errorf("[[files]] %s: both symlink and directory", f.Path)}
		}
	}
	return &c, nil
}

// packageLines maps each key of the [packages] table to its line.
func packageLines(src []byte) map[string]int {
	out := map[string]int{}
	in := false
	for i, l := range strings.Split(string(src), "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			in = t == "[packages]"
			continue
		}
		if !in || t == "" || t[0] == '#' {
			continue
		}
		if k, _, ok := strings.Cut(t, "="); ok {
			out[strings.Trim(strings.TrimSpace(k), `"'`)] = i + 1
		}
	}
	return out
}

// filesLine returns the line of the i-th [[files]] header.
func filesLine(src []byte, i int) int {
	n := 0
	for ln, l := range strings.Split(string(src), "\n") {
		if strings.TrimSpace(l) == "[[files]]" {
			if n == i {
				return ln + 1
			}
			n++
		}
	}
	return 0
}

// merge merges o (a later file of the include list) into c with
// upstream's rules: general values o sets win (except prompt), packages,
// users and groups are replaced per key, files are appended.
func (c *Config) merge(o *Config) {
	g, og := &c.General, o.General
	set := func(dst **uint32, v *uint32) {
		if v != nil {
			*dst = v
		}
	}
	setb := func(dst **bool, v *bool) {
		if v != nil {
			*dst = v
		}
	}
	sets := func(dst **string, v *string) {
		if v != nil {
			*dst = v
		}
	}
	set(&g.FilesystemSize, og.FilesystemSize)
	set(&g.EFIPartitionSize, og.EFIPartitionSize)
	setb(&g.SkipPartitions, og.SkipPartitions)
	sets(&g.EncryptDisk, og.EncryptDisk)
	setb(&g.LiveDisk, og.LiveDisk)
	sets(&g.WriteBootloader, og.WriteBootloader)
	setb(&g.NoMount, og.NoMount)
	sets(&g.Cookbook, og.Cookbook)
	if c.Packages == nil && len(o.Packages) > 0 {
		c.Packages = map[string]PackageRule{}
	}
	for k, v := range o.Packages {
		c.Packages[k] = v
	}
	if c.Users == nil && len(o.Users) > 0 {
		c.Users = map[string]User{}
	}
	for k, v := range o.Users {
		c.Users[k] = v
	}
	if c.Groups == nil && len(o.Groups) > 0 {
		c.Groups = map[string]Group{}
	}
	for k, v := range o.Groups {
		c.Groups[k] = v
	}
	c.Files = append(c.Files, o.Files...)
}

// Marshal returns the merged config as TOML, the way the installer writes
// it to /filesystem.toml: [general], [packages], [[files]], [users.*],
// [groups.*], keys sorted.
func (c *Config) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	type out struct {
		General  General                `toml:"general"`
		Packages map[string]PackageRule `toml:"packages"`
		Files    []File                 `toml:"files"`
		Users    map[string]User        `toml:"users"`
		Groups   map[string]Group       `toml:"groups"`
	}
	if err := enc.Encode(out{c.General, orEmpty(c.Packages), c.Files, orEmpty(c.Users), orEmpty(c.Groups)}); err != nil {
		return nil, fmt.Errorf("encode filesystem config %s: %w", c.Name, err)
	}
	return b.Bytes(), nil
}

func orEmpty[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

// PackageNames returns the packages to install (rule not "ignore"), sorted.
func (c *Config) PackageNames() []string {
	var out []string
	for name, r := range c.Packages {
		if r.Rule != RuleIgnore {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Ignored reports whether the config marks name "ignore".
func (c *Config) Ignored(name string) bool {
	r, ok := c.Packages[name]
	return ok && r.Rule == RuleIgnore
}

// Size returns filesystem_size in MiB (0 when unset).
func (g General) Size() uint32 { return deref(g.FilesystemSize) }

// ESPSize returns efi_partition_size in MiB (default 1, as upstream's code).
func (g General) ESPSize() uint32 {
	if g.EFIPartitionSize == nil || *g.EFIPartitionSize == 0 {
		return 1
	}
	return *g.EFIPartitionSize
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}
