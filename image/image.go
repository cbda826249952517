// Package image assembles bootable Redox OS disk images from a filesystem config and cook's package repository the way upstream's installer does, without FUSE and without root.
package image

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/redox-cook/cook/internal/fsutil"
	"github.com/redox-cook/cook/redoxfs"
	"github.com/redox-cook/cook/triple"
)

// Disk layout constants (image-formats.md §3.2).
const (
	MiB          = 1 << 20
	sectorSize   = 512
	gptTailBytes = 33 * sectorSize // backup entries and header at the end of the disk
	biosStartLBA = 34
	biosEndLBA   = 2047
	mbrCodeBytes = 446
	minImageMiB  = 32
)

// Progress reports what Build is doing: a stage name and, for packages
// and while the filesystem is written, how many of how many are done.
type Progress struct {
	Stage       string
	Done, Total int64
}

// Option configures Build.
type Option func(*builder) error

type builder struct {
	pkgs       Packages
	efiFile    string
	biosFile   string
	sizeMiB    uint32
	net        Network
	epoch      time.Time
	target     triple.Triple
	progress   func(Progress)
	live       *bool
	bootloader string // package holding the bootloaders
}

// WithPackages sets where packages come from (see OpenRepo). Without it a
// config that names packages fails.
func WithPackages(p Packages) Option {
	return func(b *builder) error { b.pkgs = p; return nil }
}

// WithBootloaderEFI takes the EFI bootloader from a file instead of the
// bootloader package.
func WithBootloaderEFI(path string) Option {
	return func(b *builder) error { b.efiFile = path; return nil }
}

// WithBootloaderBIOS takes the BIOS bootloader from a file instead of the
// bootloader package.
func WithBootloaderBIOS(path string) Option {
	return func(b *builder) error { b.biosFile = path; return nil }
}

// WithSize overrides the config's filesystem_size, in MiB.
func WithSize(mib uint32) Option {
	return func(b *builder) error {
		if mib < minImageMiB {
			return fmt.Errorf("image size %d MiB: want at least %d", mib, minImageMiB)
		}
		b.sizeMiB = mib
		return nil
	}
}

// WithNetwork bakes a network setup into the image.
func WithNetwork(n Network) Option {
	return func(b *builder) error {
		if err := n.Validate(); err != nil {
			return err
		}
		b.net = n
		return nil
	}
}

// WithEpoch sets the time every file, directory and FAT entry carries
// (default: SOURCE_DATE_EPOCH, else 0, the Unix epoch).
func WithEpoch(t time.Time) Option {
	return func(b *builder) error { b.epoch = t.UTC().Truncate(time.Second); return nil }
}

// WithTarget sets the target triple (default x86_64-unknown-redox); it
// picks the EFI file name on the ESP.
func WithTarget(t triple.Triple) Option {
	return func(b *builder) error { b.target = t; return nil }
}

// WithLive forces the live variant on or off (default: the config's
// live_disk): the bootloader package's bootloader-live.* files.
func WithLive(on bool) Option {
	return func(b *builder) error { b.live = &on; return nil }
}

// WithProgress calls fn as Build advances. fn must be quick.
func WithProgress(fn func(Progress)) Option {
	return func(b *builder) error { b.progress = fn; return nil }
}

// EpochFromEnv returns SOURCE_DATE_EPOCH as a time, or the Unix epoch.
func EpochFromEnv() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// Result describes a built image.
type Result struct {
	Path           string   `json:"path"`
	Config         string   `json:"config"`
	Size           int64    `json:"size"`
	UUID           string   `json:"uuid"`
	FSOffset       int64    `json:"filesystem_offset"`
	FSSize         int64    `json:"filesystem_size"`
	UsedBytes      int64    `json:"used_bytes"`
	Nodes          int      `json:"nodes"`
	Packages       []string `json:"packages"`
	EFIBootloader  string   `json:"efi_bootloader,omitempty"`  // where it came from
	BIOSBootloader string   `json:"bios_bootloader,omitempty"` // where it came from
	Network        string   `json:"network"`
	Warnings       []string `json:"warnings,omitempty"`
}

// TooSmallError says the content does not fit the image.
type TooSmallError struct {
	SizeMiB   uint32 // the image size asked for
	NeededMiB uint32 // the smallest size that fits
}

func (e *TooSmallError) Error() string {
	return fmt.Sprintf("the content does not fit a %d MiB image: it needs at least %d MiB (set filesystem_size in the config or pass --size %d)",
		e.SizeMiB, e.NeededMiB, e.NeededMiB)
}

func (e *TooSmallError) Unwrap() error { return redoxfs.ErrNoSpace }

// Assemble writes the image for cfg to out, through a temporary file beside
// it that is renamed into place only when complete.
//
// It works the way upstream's installer does, without FUSE and without
// root: from a filesystem config (config/*.toml, includes merged), it builds
// the root tree in the installer's order — config files, packages from
// cook's repository with their runtime dependencies, post-install files,
// users — and writes a GPT disk with a BIOS boot partition, an EFI system
// partition and a RedoxFS partition at 2 MiB, streaming file contents into
// the RedoxFS writer.
//
// Images are reproducible: the filesystem UUID, partition GUIDs, password
// salts and every time stamp derive from the inputs and the epoch
// (SOURCE_DATE_EPOCH).
func Assemble(ctx context.Context, cfg *Config, out string, opts ...Option) (*Result, error) {
	b := &builder{target: "x86_64-unknown-redox", bootloader: "bootloader"}
	epoch, err := EpochFromEnv()
	if err != nil {
		return nil, err
	}
	b.epoch = epoch
	for _, o := range opts {
		if err := o(b); err != nil {
			return nil, err
		}
	}
	return b.build(ctx, cfg, out)
}

func (b *builder) report(stage string, done, total int64) {
	if b.progress != nil {
		b.progress(Progress{Stage: stage, Done: done, Total: total})
	}
}

func (b *builder) build(ctx context.Context, cfg0 *Config, out string) (*Result, error) {
	cfg, err := b.effective(cfg0)
	if err != nil {
		return nil, err
	}
	sizeMiB := b.sizeMiB
	if sizeMiB == 0 {
		sizeMiB = cfg.General.Size()
	}
	if sizeMiB == 0 {
		return nil, fmt.Errorf("filesystem config %s sets no filesystem_size: pass --size MIB", cfg.Name)
	}
	if sizeMiB < minImageMiB {
		return nil, fmt.Errorf("filesystem config %s: filesystem_size %d MiB is below the minimum of %d", cfg.Name, sizeMiB, minImageMiB)
	}
	skip := deref(cfg.General.SkipPartitions)
	live := deref(cfg.General.LiveDisk)
	if b.live != nil {
		live = *b.live
	}
	lay, err := newLayout(sizeMiB, cfg.General.ESPSize(), skip)
	if err != nil {
		return nil, err
	}
	res := &Result{Config: cfg.Name, Network: string(b.net.Mode), FSOffset: lay.fsOff, FSSize: lay.fsSize, Size: lay.total}
	if res.Network == "" {
		res.Network = "config"
	}
	b.report("resolving packages", 0, 0)
	var pkgs []resolved
	if names := cfg.PackageNames(); len(names) > 0 {
		if b.pkgs == nil {
			return nil, fmt.Errorf("filesystem config %s names packages but no repository was given", cfg.Name)
		}
		if pkgs, err = resolvePackages(b.pkgs, cfg, names); err != nil {
			return nil, err
		}
	}
	for _, p := range pkgs {
		res.Packages = append(res.Packages, p.Name)
	}
	var efi, bios []byte
	if !skip {
		if efi, bios, err = b.bootloaders(live, res); err != nil {
			return nil, err
		}
	}
	cfgText, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	seed := b.seed(cfgText, sizeMiB, skip, live, pkgs, efi, bios)
	r, err := b.rootTree(ctx, cfg, cfgText, pkgs, seed)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if err := b.write(ctx, out, lay, r, seed, efi, bios, res); err != nil {
		return nil, err
	}
	if w := deref(cfg.General.WriteBootloader); w != "" && efi != nil {
		if err := fsutil.WriteFileAtomic(w, efi, 0o644); err != nil {
			return nil, fmt.Errorf("write_bootloader: %w", err)
		}
	}
	b.report("done", 1, 1)
	return res, nil
}

// effective is the config as this image has it: the network's files
// instead of a DHCP unit the network mode replaces. Encrypted disks are
// refused.
func (b *builder) effective(cfg0 *Config) (*Config, error) {
	cfg := *cfg0
	cfg.Files = nil
	for _, f := range cfg0.Files {
		// DHCP modes mean DHCP even over a config that replaced the unit.
		if (b.net.Mode == NetDHCP || b.net.Mode == NetAuto) && cleanPath(f.Path) == cleanPath(dhcpdUnit) {
			continue
		}
		cfg.Files = append(cfg.Files, f)
	}
	cfg.Files = append(cfg.Files, b.net.files()...)
	if cfg.General.EncryptDisk != nil && *cfg.General.EncryptDisk != "" {
		return nil, fmt.Errorf("filesystem config %s: encrypt_disk is not supported by cook image", cfg.Name)
	}
	return &cfg, nil
}

// layout is where an image's parts lie, computed once: the BIOS boot
// partition, the ESP from LBA 2048 and RedoxFS after it up to the backup
// GPT — or, without partitions, RedoxFS filling the image.
type layout struct {
	total            int64 // image bytes
	skip             bool  // no partition table
	espMiB           uint32
	espStart, espEnd uint64 // LBAs
	fsOff, fsSize    int64  // RedoxFS, in bytes
	redoxEnd         uint64 // last LBA of the RedoxFS partition
}

func newLayout(sizeMiB, espMiB uint32, skip bool) (layout, error) {
	l := layout{total: int64(sizeMiB) * MiB, skip: skip, espMiB: espMiB}
	l.fsSize = l.total
	if skip {
		return l, nil
	}
	l.espStart = 2048
	l.espEnd = l.espStart + uint64(espMiB)*MiB/sectorSize - 1
	l.fsOff = int64(1+espMiB) * MiB
	l.redoxEnd = uint64((l.total-gptTailBytes)/MiB*MiB/sectorSize - 1)
	l.fsSize = int64(l.redoxEnd+1)*sectorSize - l.fsOff
	if l.fsSize < 4*MiB {
		return l, fmt.Errorf("a %d MiB image leaves no room for RedoxFS after a %d MiB ESP", sizeMiB, espMiB)
	}
	return l, nil
}

// bootloaders reads the EFI bootloader (required) and the BIOS one (an
// EFI-only image, with a warning, when none is available), recording
// where they came from in res.
func (b *builder) bootloaders(live bool, res *Result) (efi, bios []byte, err error) {
	if efi, res.EFIBootloader, err = b.loadBootloader(b.efiFile, "efi", live); err != nil {
		return nil, nil, err
	}
	if bios, res.BIOSBootloader, err = b.loadBootloader(b.biosFile, "bios", live); err != nil {
		var me *MissingPackageError
		// Not available (no repository, no bootloader package, no
		// bootloader.bios in it): an EFI-only image, with a warning. A
		// file that was named but cannot be read, or a damaged package,
		// is an error.
		if !errors.As(err, &me) && !errors.Is(err, errNoBootloaderFile) && !errors.Is(err, errNoBootloaderSource) {
			return nil, nil, err
		}
		res.Warnings = append(res.Warnings, "no BIOS bootloader ("+err.Error()+"): the image boots with UEFI only")
		bios = nil
	}
	if efi == nil {
		return nil, nil, fmt.Errorf("no EFI bootloader: %w (or pass --bootloader-efi FILE)", errNoEFI)
	}
	if len(bios) > (biosEndLBA+1)*sectorSize {
		return nil, nil, fmt.Errorf("BIOS bootloader %s is %d bytes, over the %d the BIOS boot partition holds", res.BIOSBootloader, len(bios), (biosEndLBA+1)*sectorSize)
	}
	return efi, bios, nil
}

// seed is what every identifier of the image derives from: its inputs.
func (b *builder) seed(cfgText []byte, sizeMiB uint32, skip, live bool, pkgs []resolved, efi, bios []byte) []byte {
	seed := sha256.New()
	fmt.Fprintf(seed, "cook image v1\x00%d\x00%d\x00%v\x00%v\x00", b.epoch.Unix(), sizeMiB, skip, live)
	seed.Write(cfgText)
	for _, p := range pkgs {
		fmt.Fprintf(seed, "\x00%s=%s", p.Name, p.Meta.Blake3)
	}
	for _, x := range [][]byte{efi, bios} {
		h := sha256.Sum256(x)
		seed.Write(h[:])
	}
	return seed.Sum(nil)
}

// rootTree assembles the image's root tree in the installer's order: the
// config's files (with /filesystem.toml and the os-release lines it adds),
// the packages, the postinstall files, then users and groups.
func (b *builder) rootTree(ctx context.Context, cfg *Config, cfgText []byte, pkgs []resolved, seed []byte) (*root, error) {
	buildID := ""
	if b.pkgs != nil {
		buildID = b.pkgs.BuildID()
	}
	cfg.Files = append(cfg.Files, File{Path: "filesystem.toml", Data: string(cfgText)})
	if rel := osReleaseLines(cfg.Name, buildID); rel != "" {
		cfg.Files = append(cfg.Files, File{Path: "/usr/lib/os-release", Data: rel, Append: true})
	}
	r := newRoot(seed)
	fail := func(err error) (*root, error) { r.Close(); return nil, err }
	b.report("files", 0, 0)
	for _, f := range cfg.Files {
		if !f.Postinstall {
			if err := r.addFile(f); err != nil {
				return fail(fmt.Errorf("filesystem config %s: [[files]] %s: %w", cfg.Name, f.Path, err))
			}
		}
	}
	for i, p := range pkgs {
		b.report("packages", int64(i), int64(len(pkgs)))
		if err := b.install(ctx, r, p); err != nil {
			return fail(err)
		}
	}
	if len(pkgs) > 0 {
		if err := r.writePackagesToml(pkgs, b.pkgs.PublicKey()); err != nil {
			return fail(err)
		}
	}
	for _, f := range cfg.Files {
		if f.Postinstall {
			if err := r.addFile(f); err != nil {
				return fail(fmt.Errorf("filesystem config %s: [[files]] %s (postinstall): %w", cfg.Name, f.Path, err))
			}
		}
	}
	b.report("users", 0, 0)
	if err := r.addUsers(cfg); err != nil {
		return fail(err)
	}
	return r, nil
}

// install adds package p to the tree, its archive checked against its
// metadata.
func (b *builder) install(ctx context.Context, r *root, p resolved) error {
	if p.Meta.Version == "" && p.Meta.Blake3 == "" {
		return nil // a metapackage: nothing to install
	}
	f, err := b.pkgs.Open(p.Name)
	if err != nil {
		return err
	}
	if got := f.Header.Blake3.String(); p.Meta.Blake3 != "" && got != p.Meta.Blake3 {
		f.Close()
		return fmt.Errorf("package %s: the archive (blake3 %s) does not match its metadata (blake3 %s): republish it with `cook build %s`",
			p.Name, got, p.Meta.Blake3, recipeOf(p.Name))
	}
	return r.installPackage(ctx, p.Name, f)
}

// write writes the image to out through a temporary file beside it:
// RedoxFS with the tree's contents streamed from where they live, then the
// partitions and bootloaders.
func (b *builder) write(ctx context.Context, out string, lay layout, r *root, seed, efi, bios []byte, res *Result) error {
	dir := filepath.Dir(out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(out)+".partial-*")
	if err != nil {
		return err
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Truncate(lay.total); err != nil {
		return fmt.Errorf("%s: %w", tmp.Name(), err)
	}
	var contentTotal int64
	_ = r.t.Walk(func(e redoxfs.Entry) error {
		if e.Open != nil {
			contentTotal++
		}
		return nil
	})
	var uuid [16]byte
	copy(uuid[:], derive(seed, "redoxfs uuid"))
	uuid[6] = uuid[6]&0x0f | 0x40
	uuid[8] = uuid[8]&0x3f | 0x80
	fsOpt := redoxfs.Options{Offset: lay.fsOff, Size: lay.fsSize, UUID: uuid, Time: b.epoch}
	st, err := redoxfs.Build(ctx, tmp, b.countingTree(r.t, contentTotal), fsOpt)
	if errors.Is(err, redoxfs.ErrNoSpace) {
		return b.tooSmall(ctx, r.t, uint32(lay.total/MiB), lay.total-lay.fsSize)
	}
	if err != nil {
		return fmt.Errorf("write RedoxFS: %w", err)
	}
	res.Nodes, res.UsedBytes = st.Nodes, int64(st.UsedBlocks)*redoxfs.BlockSize
	res.UUID = redoxfsUUID(uuid)
	if !lay.skip {
		b.report("partitions", 0, 0)
		if err := b.writePartitions(tmp, seed, lay, efi, bios); err != nil {
			return err
		}
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	tmp = nil
	res.Path = out
	return nil
}

var (
	errNoEFI              = errors.New("the bootloader package has no EFI bootloader")
	errNoBootloaderFile   = errors.New("not in the bootloader package")
	errNoBootloaderSource = errors.New("no repository to take it from")
)

// maxBootloaderSize bounds a bootloader file (upstream's are under 1 MiB).
const maxBootloaderSize = 64 << 20

// loadBootloader reads a bootloader from file, or else from the bootloader
// package (usr/lib/boot/bootloader[-live].{efi,bios}). It returns the bytes
// and where they came from.
func (b *builder) loadBootloader(file, kind string, live bool) ([]byte, string, error) {
	if file != "" {
		data, _, err := fsutil.ReadRegular(file, maxBootloaderSize)
		if err != nil {
			return nil, "", fmt.Errorf("%s bootloader: %w", kind, err)
		}
		return data, file, nil
	}
	if b.pkgs == nil {
		return nil, "", fmt.Errorf("%s bootloader: %w, and no --bootloader-%s FILE", kind, errNoBootloaderSource, kind)
	}
	name := "bootloader"
	if live {
		name += "-live"
	}
	want := "usr/lib/boot/" + name + "." + kind
	f, err := b.pkgs.Open(b.bootloader)
	if err != nil {
		return nil, "", fmt.Errorf("%s bootloader: %w (or pass --bootloader-%s FILE)", kind, err, kind)
	}
	defer f.Close()
	for i := range f.Entries {
		e := &f.Entries[i]
		if e.Path != want || !e.IsFile() {
			continue
		}
		rd, err := f.Open(e)
		if err != nil {
			return nil, "", fmt.Errorf("%s bootloader: package %s: %w", kind, b.bootloader, err)
		}
		data, err := io.ReadAll(rd)
		if err != nil {
			return nil, "", fmt.Errorf("%s bootloader: package %s: %s: %w", kind, b.bootloader, want, err)
		}
		return data, "package " + b.bootloader + ":/" + want, nil
	}
	return nil, "", fmt.Errorf("%s bootloader: /%s %w %s", kind, want, errNoBootloaderFile, b.bootloader)
}

// countingTree returns a copy of t whose file openers report progress.
func (b *builder) countingTree(t *redoxfs.Tree, total int64) *redoxfs.Tree {
	if b.progress == nil {
		return t
	}
	out := redoxfs.NewTree()
	var done int64
	_ = t.Walk(func(e redoxfs.Entry) error {
		if e.Open != nil {
			open := e.Open
			e.Open = func() (io.ReadCloser, error) {
				done++
				b.report("writing filesystem", done, total)
				return open()
			}
		}
		return out.Add(e)
	})
	return out
}

// tooSmall measures the content by writing the filesystem to nowhere and
// returns the error saying how big the image must be.
func (b *builder) tooSmall(ctx context.Context, t *redoxfs.Tree, sizeMiB uint32, overhead int64) error {
	st, err := redoxfs.Build(ctx, discard{}, t, redoxfs.Options{Size: 1 << 40, Time: b.epoch})
	if err != nil {
		return fmt.Errorf("the content does not fit a %d MiB image (measuring it failed: %v)", sizeMiB, err)
	}
	need := int64(st.UsedBlocks)*redoxfs.BlockSize + overhead + MiB
	return &TooSmallError{SizeMiB: sizeMiB, NeededMiB: uint32((need + MiB - 1) / MiB)}
}

type discard struct{}

func (discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// osReleaseLines are the lines the installer appends to os-release:
// VARIANT and BUILD_ID, each only when known.
func osReleaseLines(variant, buildID string) string {
	q := func(v string) string {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
	}
	var b strings.Builder
	if variant != "" {
		b.WriteString("VARIANT=" + q(variant) + "\n")
	}
	if buildID != "" {
		b.WriteString("BUILD_ID=" + q(buildID) + "\n")
	}
	return b.String()
}

func cleanPath(p string) string { return strings.Join(splitClean(p), "/") }

// derive returns 16 bytes for label from the seed.
func derive(seed []byte, label string) []byte {
	h := sha256.New()
	h.Write(seed)
	h.Write([]byte("\x00" + label))
	return h.Sum(nil)[:16]
}

// guidString formats 16 derived bytes as a random-variant (version 4) GUID.
func guidString(b []byte) string {
	var u [16]byte
	copy(u[:], b)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%08X-%04X-%04X-%04X-%012X", binary.BigEndian.Uint32(u[0:4]), binary.BigEndian.Uint16(u[4:6]),
		binary.BigEndian.Uint16(u[6:8]), binary.BigEndian.Uint16(u[8:10]), u[10:16])
}

func redoxfsUUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// efiName is the removable-media boot path's file name for a target.
func efiName(target triple.Triple) string {
	switch target.Arch() {
	case "aarch64":
		return "BOOTAA64.EFI"
	case "i586", "i686":
		return "BOOTIA32.EFI"
	case "riscv64gc", "riscv64":
		return "BOOTRISCV64.EFI"
	}
	return "BOOTX64.EFI"
}

// writePartitions writes the GPT (with its protective MBR), the FAT ESP
// holding the EFI bootloader, and the BIOS bootloader into f.
func (b *builder) writePartitions(f *os.File, seed []byte, lay layout, efi, bios []byte) error {
	d, err := diskfs.OpenBackend(file.New(f, false), diskfs.WithSectorSize(diskfs.SectorSize512))
	if err != nil {
		return fmt.Errorf("open image for partitioning: %w", err)
	}
	espStart, espEnd, redoxEnd, fsOff, espMiB := lay.espStart, lay.espEnd, lay.redoxEnd, lay.fsOff, lay.espMiB
	table := &gpt.Table{
		LogicalSectorSize:  sectorSize,
		PhysicalSectorSize: sectorSize,
		ProtectiveMBR:      true,
		GUID:               guidString(derive(seed, "disk guid")),
		Partitions: []*gpt.Partition{
			{Index: 1, Start: biosStartLBA, End: biosEndLBA, Size: (biosEndLBA - biosStartLBA + 1) * sectorSize,
				Type: gpt.BIOSBoot, Name: "BIOS", GUID: guidString(derive(seed, "bios partition"))},
			{Index: 2, Start: espStart, End: espEnd, Size: (espEnd - espStart + 1) * sectorSize,
				Type: gpt.EFISystemPartition, Name: "EFI", GUID: guidString(derive(seed, "efi partition"))},
			{Index: 3, Start: uint64(fsOff / sectorSize), End: redoxEnd, Size: (redoxEnd + 1 - uint64(fsOff/sectorSize)) * sectorSize,
				Type: gpt.LinuxFilesystem, Name: "REDOX", GUID: guidString(derive(seed, "redox partition"))},
		},
	}
	if err := d.Partition(table); err != nil {
		return fmt.Errorf("write partition table: %w", err)
	}
	fsType := filesystem.TypeFat12
	if espMiB > 16 {
		fsType = filesystem.TypeFat16
	}
	if espMiB > 256 {
		fsType = filesystem.TypeFat32
	}
	esp, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 2, FSType: fsType, VolumeLabel: "EFI", Reproducible: true})
	if err != nil {
		return fmt.Errorf("format the EFI system partition: %w", err)
	}
	name := "/EFI/BOOT/" + efiName(b.target)
	if err := esp.Mkdir("/EFI/BOOT"); err != nil {
		return fmt.Errorf("ESP: mkdir /EFI/BOOT: %w", err)
	}
	w, err := esp.OpenFile(name, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return fmt.Errorf("ESP: create %s: %w", name, err)
	}
	if _, err := w.Write(efi); err != nil {
		return fmt.Errorf("ESP: write %s (%d bytes): %w", name, len(efi), err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("ESP: close %s: %w", name, err)
	}
	for _, p := range []string{"/EFI", "/EFI/BOOT", name} {
		if err := esp.Chtimes(p, b.epoch, b.epoch, b.epoch); err != nil {
			return fmt.Errorf("ESP: times of %s: %w", p, err)
		}
	}
	fat, err := readESPFAT(f, int64(espStart)*sectorSize)
	if err != nil {
		return err
	}
	if fat != nil {
		if err := fat.freeStrayRootCluster(); err != nil {
			return err
		}
		// go-diskfs stamps the entries it makes itself (the volume label,
		// "." and "..") with the environment's SOURCE_DATE_EPOCH or the
		// wall clock
		if err := fat.stampTimes(b.epoch); err != nil {
			return err
		}
	}
	if len(bios) > 0 {
		code := bios
		if len(code) > mbrCodeBytes {
			code = code[:mbrCodeBytes]
		}
		if _, err := f.WriteAt(code, 0); err != nil {
			return fmt.Errorf("write BIOS boot code: %w", err)
		}
		if len(bios) > biosStartLBA*sectorSize {
			if _, err := f.WriteAt(bios[biosStartLBA*sectorSize:], biosStartLBA*sectorSize); err != nil {
				return fmt.Errorf("write BIOS bootloader: %w", err)
			}
		}
	}
	return nil
}
