package image

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/redox-cook/cook/internal/golden"
	"github.com/redox-cook/cook/redoxfs"
	"github.com/redox-cook/cook/workdir"
)

var testEpoch = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

func loadTestConfig(t testing.TB) *Config {
	t.Helper()
	c, err := LoadConfig(filepath.Join("testdata", "test.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func buildTest(t testing.TB, f *fixture, out string, opts ...Option) *Result {
	t.Helper()
	opts = append([]Option{WithPackages(f.repo), WithEpoch(testEpoch)}, opts...)
	res, err := Assemble(context.Background(), loadTestConfig(t), out, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func openFS(t testing.TB, img string, off int64) (*redoxfs.FS, func()) {
	t.Helper()
	fh, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := redoxfs.Open(fh, off)
	if err != nil {
		fh.Close()
		t.Fatal(err)
	}
	if err := fsys.Check(context.Background()); err != nil {
		t.Errorf("check: %v", err)
	}
	return fsys, func() { fh.Close() }
}

// listing is one line per node: path, mode, owner, and size or target.
func listing(t testing.TB, fsys *redoxfs.FS) string {
	t.Helper()
	var b strings.Builder
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := fsys.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*redoxfs.Stat)
		extra := ""
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := fsys.ReadLink(p)
			extra = "-> " + target
		case fi.Mode().IsRegular():
			extra = fmt.Sprint(fi.Size())
			if p == "usr/bin/hello" {
				extra = "(gcc build)"
			}
		}
		if !st.Mtime.Equal(testEpoch) {
			extra += fmt.Sprintf(" mtime %v", st.Mtime)
		}
		fmt.Fprintf(&b, "%-45s %-12v %d:%d %s\n", p, fi.Mode(), st.UID, st.GID, extra)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func readFile(t testing.TB, fsys fs.FS, p string) string {
	t.Helper()
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func TestBuildImage(t *testing.T) {
	f := newFixture(t, nil)
	img := filepath.Join(t.TempDir(), "harddrive.img")
	res := buildTest(t, f, img)

	if res.Size != 40*MiB || res.FSOffset != 2*MiB {
		t.Errorf("size %d, filesystem at %d", res.Size, res.FSOffset)
	}
	if got := strings.Join(res.Packages, " "); got != "base bootloader hello libdemo meta" {
		t.Errorf("packages: %s", got)
	}
	st, err := os.Stat(img)
	if err != nil || st.Size() != 40*MiB {
		t.Fatalf("image: %v %v", st, err)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(img), ".*partial*")); len(m) > 0 {
		t.Errorf("temp files left: %v", m)
	}

	fsys, done := openFS(t, img, 2*MiB)
	defer done()
	if got := fsys.Info().UUIDString(); got != res.UUID {
		t.Errorf("UUID %s, result says %s", got, res.UUID)
	}
	golden.Check(t, "testdata/golden/image.tree", []byte(listing(t, fsys)))

	for p, want := range map[string]string{
		"etc/hostname":              "redox",
		"etc/motd":                  "line 1\nline 2\n",
		"etc/demo.conf":             "postinstall wins\n",
		"usr/bin/hello-again":       "#!/bin/sh\necho again\n",
		"usr/lib/libdemo.so.1":      "not really a library",
		"usr/lib/os-release":        "NAME=\"Redox OS\"\nID=\"redox-os\"\nVARIANT=\"test\"\nBUILD_ID=\"testbuild\"\n",
		"etc/passwd":                "root;0;0;root;/home/root;/usr/bin/ion\nuser;1000;1000;user;/home/user;/usr/bin/ion\n",
		"etc/group":                 "root;x;0;root\nuser;x;1000;user\nsudo;x;1;user\n",
		"home/user/.profile":        "echo hi\n",
		"etc/pkg/packages.toml":     "", // checked below
		"filesystem.toml":           "",
		"srv/owned/file":            "x",
		"usr/lib/init.d/30_console": "nowait getty 2\n",
	} {
		got := readFile(t, fsys, p)
		if want != "" && got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	if hello := readFile(t, fsys, "usr/bin/hello"); !strings.HasPrefix(hello, "\x7fELF") && !strings.HasPrefix(hello, "#!") {
		t.Errorf("usr/bin/hello: %q", hello[:8])
	}
	pt := readFile(t, fsys, "etc/pkg/packages.toml")
	golden.Check(t, "testdata/golden/packages.toml", []byte(maskHello(pt)))
	for _, want := range []string{"[installed.hello]", "manual = true", `dependencies = ["libdemo"]`, `dependents = ["hello"]`, `remote = "local"`} {
		if !strings.Contains(pt, want) {
			t.Errorf("packages.toml lacks %q:\n%s", want, pt)
		}
	}
	for _, p := range []string{"base", "bootloader", "hello", "libdemo"} {
		head := readFile(t, fsys, "var/lib/packages/"+p+".pkgar_head")
		pk, err := os.ReadFile(filepath.Join(f.repo.Dir, p+".pkgar"))
		if err != nil || !strings.HasPrefix(string(pk), head) {
			t.Errorf("%s.pkgar_head is not the package's head (%v)", p, err)
		}
	}
	if _, err := fsys.Stat("var/lib/packages/meta.pkgar_head"); err == nil {
		t.Errorf("a metapackage has a pkgar_head")
	}
	// The merged config, with the network entries, is /filesystem.toml.
	back, err := LoadConfigFS(fsys, "filesystem.toml")
	if err != nil || len(back.Files) != len(loadTestConfig(t).Files) {
		t.Errorf("filesystem.toml does not read back: %v", err)
	}

	// Passwords: Argon2id as upstream encodes it.
	shadow := readFile(t, fsys, "etc/shadow")
	lines := strings.Split(strings.TrimSpace(shadow), "\n")
	if len(lines) != 2 || lines[1] != "user;" || !strings.HasPrefix(lines[0], "root;$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("shadow:\n%s", shadow)
	}
	parts := strings.Split(lines[0], "$")
	salt, _ := base64.RawStdEncoding.DecodeString(parts[4])
	hash, _ := base64.RawStdEncoding.DecodeString(parts[5])
	if len(salt) < 8 || len(salt) > 16 || strings.ToUpper(string(salt)) != string(salt) {
		t.Errorf("salt %q: want up to 16 uppercase hex digits", salt)
	}
	if subtle.ConstantTimeCompare(argon2.IDKey([]byte("password"), salt, 2, 19456, 1, 32), hash) != 1 {
		t.Errorf("root's hash does not verify")
	}

	checkDisk(t, img, f)
}

// checkDisk checks the partitioning with the host's tools and the boot
// code bytes.
func checkDisk(t *testing.T, img string, f *fixture) {
	t.Helper()
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data[:446], f.bios[:446]) {
		t.Errorf("MBR boot code is not bootloader.bios's first 446 bytes")
	}
	if data[510] != 0x55 || data[511] != 0xAA || data[450] != 0xEE {
		t.Errorf("no protective MBR: % x", data[446:512])
	}
	if !bytes.Equal(data[34*512:34*512+len(f.bios)-34*512], f.bios[34*512:]) {
		t.Errorf("BIOS boot partition does not hold bootloader.bios from LBA 34")
	}
	if _, err := exec.LookPath("sgdisk"); err != nil {
		t.Log("sgdisk not installed; skipping its checks")
	} else {
		out, err := exec.Command("sgdisk", "-v", img).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "No problems found") {
			t.Errorf("sgdisk -v: %v\n%s", err, out)
		}
		out, err = exec.Command("sgdisk", "-p", img).CombinedOutput()
		if err != nil {
			t.Errorf("sgdisk -p: %v\n%s", err, out)
		}
		var parts []string
		for _, l := range strings.Split(string(out), "\n") {
			if fl := strings.Fields(l); len(fl) >= 7 && (fl[0] == "1" || fl[0] == "2" || fl[0] == "3") {
				parts = append(parts, strings.Join(append(fl[:3:3], fl[5:]...), " "))
			}
		}
		want := []string{"1 34 2047 EF02 BIOS", "2 2048 4095 EF00 EFI", "3 4096 79871 8300 REDOX"}
		if strings.Join(parts, "|") != strings.Join(want, "|") {
			t.Errorf("sgdisk -p partitions %q, want %q", parts, want)
		}
	}
	if _, err := exec.LookPath("mdir"); err != nil {
		t.Log("mtools not installed; skipping mdir")
	} else {
		out, err := exec.Command("mdir", "-i", img+"@@1M", "::/EFI/BOOT").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "BOOTX64  EFI") {
			t.Errorf("mdir: %v\n%s", err, out)
		}
		got, err := exec.Command("mtype", "-i", img+"@@1M", "::/EFI/BOOT/BOOTX64.EFI").Output()
		if err != nil || !bytes.Equal(got, f.efi) {
			t.Errorf("mtype BOOTX64.EFI: %v (%d bytes, want %d)", err, len(got), len(f.efi))
		}
	}
	if _, err := exec.LookPath("fsck.fat"); err != nil {
		t.Log("dosfstools not installed; skipping fsck.fat")
	} else {
		esp := filepath.Join(t.TempDir(), "esp.img")
		if err := os.WriteFile(esp, data[1*MiB:2*MiB], 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("fsck.fat", "-n", "-v", esp).CombinedOutput()
		if err != nil {
			t.Errorf("fsck.fat -n: %v\n%s", err, out)
		}
	}
}

func TestReproducible(t *testing.T) {
	f := newFixture(t, nil)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img")
	ra := buildTest(t, f, a)
	time.Sleep(2100 * time.Millisecond) // FAT times have 2 s steps: a wall-clock leak would show
	// nor may the environment's SOURCE_DATE_EPOCH leak into the bytes
	t.Setenv("SOURCE_DATE_EPOCH", "1234567890")
	rb := buildTest(t, f, b)
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		for i := range da {
			if da[i] != db[i] {
				t.Fatalf("images differ, first at byte %d (LBA %d)", i, i/512)
			}
		}
	}
	if ra.UUID != rb.UUID {
		t.Errorf("UUIDs %s and %s", ra.UUID, rb.UUID)
	}
	// Another epoch gives another filesystem UUID.
	c := filepath.Join(dir, "c.img")
	rc := buildTest(t, f, c, WithEpoch(testEpoch.Add(time.Hour)))
	if rc.UUID == ra.UUID {
		t.Errorf("the UUID does not depend on the epoch")
	}
}

func TestNetworkModes(t *testing.T) {
	f := newFixture(t, nil)
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		net   Network
		files map[string][]string // path → substrings; nil slice = must not exist
	}{
		{"ch-static", CloudHypervisorStatic(), map[string][]string{
			"etc/net/ip":                      {"172.16.0.2\n"},
			"etc/net/ip_subnet":               {"255.255.255.0\n"},
			"etc/net/ip_router":               {"172.16.0.1\n"},
			"etc/net/dns":                     {"1.1.1.1\n"},
			"etc/init.d/10_dhcpd.service":     {"echo 172.16.0.2/24 > /scheme/netcfg/ifaces/eth0/addr/set", "echo 1.1.1.1 > /scheme/netcfg/resolv/nameserver", `type = "oneshot"`, `requires_weak = ["10_smolnetd.service"]`},
			"usr/lib/init.d/10_dhcpd.service": {"cmd = \"dhcpd\""},
		}},
		{"static", Network{Mode: NetStatic, Address: mustPrefix("10.1.2.3/16"), Gateway: mustAddr("10.1.0.1"), DNS: mustAddr("9.9.9.9")}, map[string][]string{
			"etc/net/ip":                  {"10.1.2.3\n"},
			"etc/net/ip_subnet":           {"255.255.0.0\n"},
			"etc/net/ip_router":           {"10.1.0.1\n"},
			"etc/init.d/10_dhcpd.service": {"echo 10.1.2.3/16 > /scheme/netcfg/ifaces/eth0/addr/set"},
		}},
		{"auto", Network{Mode: NetAuto, Address: CHAddress, Gateway: CHGateway, DNS: CHDNS}, map[string][]string{
			"etc/init.d/10_dhcpd.service":           nil, // DHCP stays
			"etc/init.d/11_netcfg_fallback.service": {`args = ["/usr/lib/cook/netcfg-fallback.ion"]`, `type = "oneshot_async"`},
			"usr/lib/cook/netcfg-fallback.ion":      {"addr/list", "echo 172.16.0.2/24 > /scheme/netcfg/ifaces/eth0/addr/set", "echo default via 172.16.0.1 > /scheme/netcfg/route/add"},
			"etc/net/cloud-hypervisor/ip":           {"172.16.0.2\n"},
			"etc/net/ip_router":                     {"172.16.0.1\n"},
		}},
		{"none", Network{Mode: NetNone}, map[string][]string{
			"etc/init.d/10_dhcpd.service":    {`cmd = "true"`},
			"etc/init.d/10_smolnetd.service": {`cmd = "true"`},
		}},
		{"dhcp", Network{Mode: NetDHCP}, map[string][]string{
			"etc/init.d/10_dhcpd.service": nil,
			"etc/net/ip":                  nil,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(dir, tc.name+".img")
			buildTest(t, f, img, WithNetwork(tc.net))
			fsys, done := openFS(t, img, 2*MiB)
			defer done()
			for p, wants := range tc.files {
				b, err := fs.ReadFile(fsys, p)
				if wants == nil {
					if err == nil {
						t.Errorf("%s exists:\n%s", p, b)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", p, err)
					continue
				}
				for _, w := range wants {
					if !strings.Contains(string(b), w) {
						t.Errorf("%s lacks %q:\n%s", p, w, b)
					}
				}
			}
			if tc.name == "ch-static" {
				golden.Check(t, "testdata/golden/ch-static-10_dhcpd.service", []byte(readFile(t, fsys, "etc/init.d/10_dhcpd.service")))
			}
		})
	}
}

func TestSkipPartitions(t *testing.T) {
	f := newFixture(t, nil)
	c := loadTestConfig(t)
	yes := true
	c.General.SkipPartitions = &yes
	img := filepath.Join(t.TempDir(), "fs.img")
	res, err := Assemble(context.Background(), c, img, WithPackages(f.repo), WithEpoch(testEpoch), WithSize(33))
	if err != nil {
		t.Fatal(err)
	}
	if res.FSOffset != 0 || res.FSSize != 33*MiB || res.EFIBootloader != "" {
		t.Errorf("result %+v", res)
	}
	fsys, done := openFS(t, img, 0)
	defer done()
	readFile(t, fsys, "etc/hostname")
}

func TestErrors(t *testing.T) {
	f := newFixture(t, nil)
	dir := t.TempDir()
	ctx := context.Background()

	// A package the repository lacks names the recipe to build.
	c := loadTestConfig(t)
	c.Packages["not-built"] = PackageRule{}
	_, err := Assemble(ctx, c, filepath.Join(dir, "x.img"), WithPackages(f.repo), WithEpoch(testEpoch))
	var me *MissingPackageError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "`cook build not-built`") || !errors.Is(err, ErrMissingPackage) {
		t.Errorf("missing package: %v", err)
	}
	// Too much content says how much is needed. (The 40 MiB string is
	// stored twice: as /big and inside /filesystem.toml.)
	big := loadTestConfig(t)
	big.Files = append(big.Files, File{Path: "/big", Data: strings.Repeat("x", 40*MiB)})
	_, err = Assemble(ctx, big, filepath.Join(dir, "x.img"), WithPackages(f.repo), WithEpoch(testEpoch))
	var ts *TooSmallError
	if !errors.As(err, &ts) || ts.NeededMiB < 83 || ts.NeededMiB > 90 || !strings.Contains(err.Error(), "needs at least") {
		t.Errorf("too small: %v", err)
	}
	if ts != nil {
		// And the size it names is enough.
		if _, err := Assemble(ctx, big, filepath.Join(dir, "x.img"), WithPackages(f.repo), WithEpoch(testEpoch), WithSize(ts.NeededMiB)); err != nil {
			t.Errorf("with the size the error named: %v", err)
		}
	}
	// No EFI bootloader anywhere.
	nobl := loadTestConfig(t)
	delete(nobl.Packages, "bootloader")
	nobl.Packages["bootloader"] = PackageRule{Rule: RuleIgnore}
	_, err = Assemble(ctx, nobl, filepath.Join(dir, "y.img"), WithPackages(f.repo), WithEpoch(testEpoch), WithBootloaderEFI(filepath.Join(dir, "missing.efi")))
	if err == nil || !strings.Contains(err.Error(), "missing.efi") {
		t.Errorf("missing EFI file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "y.img")); err == nil {
		t.Errorf("a failed build left an image")
	}
	// A bad network.
	if _, err := Assemble(ctx, c, filepath.Join(dir, "z.img"), WithNetwork(Network{Mode: NetStatic})); err == nil || !strings.Contains(err.Error(), "--ip") {
		t.Errorf("static without address: %v", err)
	}
}

func TestBootloaderFlags(t *testing.T) {
	f := newFixture(t, nil)
	dir := t.TempDir()
	efi := filepath.Join(dir, "my.efi")
	writeFile(t, efi, []byte("MZ my own EFI"), 0o644)
	img := filepath.Join(dir, "x.img")
	res := buildTest(t, f, img, WithBootloaderEFI(efi))
	if res.EFIBootloader != efi || !strings.Contains(res.BIOSBootloader, "bootloader.bios") {
		t.Errorf("bootloaders from %q and %q", res.EFIBootloader, res.BIOSBootloader)
	}
	if _, err := exec.LookPath("mtype"); err == nil {
		got, err := exec.Command("mtype", "-i", img+"@@1M", "::/EFI/BOOT/BOOTX64.EFI").Output()
		if err != nil || string(got) != "MZ my own EFI" {
			t.Errorf("ESP holds %q, %v", got, err)
		}
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }

// maskHello hides the hash and size of the hello package in packages.toml:
// they depend on the host's gcc.
func maskHello(s string) string {
	lines := strings.Split(s, "\n")
	in := false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			in = t == "[installed.hello]"
			continue
		}
		if in && (strings.HasPrefix(t, "blake3 =") || strings.HasPrefix(t, "storage_size =")) {
			k, _, _ := strings.Cut(l, "=")
			lines[i] = k + "= (depends on the host's gcc)"
		}
	}
	return strings.Join(lines, "\n")
}

// Larger ESPs: FAT12 up to 16 MiB, FAT16 above; the RedoxFS partition
// follows the ESP.
func TestESPSizes(t *testing.T) {
	f := newFixture(t, nil)
	for _, mib := range []uint32{2, 20} {
		t.Run(fmt.Sprint(mib), func(t *testing.T) {
			c := loadTestConfig(t)
			c.General.EFIPartitionSize = &mib
			img := filepath.Join(t.TempDir(), "esp.img")
			res, err := Assemble(context.Background(), c, img, WithPackages(f.repo), WithEpoch(testEpoch), WithSize(64))
			if err != nil {
				t.Fatal(err)
			}
			if res.FSOffset != int64(1+mib)*MiB {
				t.Errorf("RedoxFS at %d", res.FSOffset)
			}
			_, done := openFS(t, img, res.FSOffset)
			done()
			if out, err := exec.Command("sgdisk", "-v", img).CombinedOutput(); err == nil && !strings.Contains(string(out), "No problems found") {
				t.Errorf("sgdisk -v:\n%s", out)
			}
			data, _ := os.ReadFile(img)
			esp := filepath.Join(t.TempDir(), "esp")
			os.WriteFile(esp, data[MiB:int64(1+mib)*MiB], 0o644)
			if _, err := exec.LookPath("fsck.fat"); err == nil {
				if out, err := exec.Command("fsck.fat", "-n", esp).CombinedOutput(); err != nil {
					t.Errorf("fsck.fat -n: %v\n%s", err, out)
				}
			}
			if _, err := exec.LookPath("mtype"); err == nil {
				got, err := exec.Command("mtype", "-i", esp, "::/EFI/BOOT/BOOTX64.EFI").Output()
				if err != nil || !bytes.Equal(got, f.efi) {
					t.Errorf("mtype: %v", err)
				}
			}
		})
	}
}

// Without a repository a BIOS bootloader cannot be found: the image is
// written for UEFI only (an empty BIOS boot partition, no MBR boot code)
// with a warning.
func TestEFIOnlyWithoutRepository(t *testing.T) {
	dir := t.TempDir()
	efi := filepath.Join(dir, "my.efi")
	writeFile(t, efi, []byte("MZ my own EFI"), 0o644)
	c := loadTestConfig(t)
	c.Packages = map[string]PackageRule{}
	img := filepath.Join(dir, "x.img")
	res, err := Assemble(context.Background(), c, img, WithEpoch(testEpoch), WithBootloaderEFI(efi))
	if err != nil {
		t.Fatal(err)
	}
	if res.BIOSBootloader != "" || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "the image boots with UEFI only") {
		t.Errorf("bios %q, warnings %q", res.BIOSBootloader, res.Warnings)
	}
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data[:446], make([]byte, 446)) || !bytes.Equal(data[34*512:2048*512], make([]byte, (2048-34)*512)) {
		t.Error("an EFI-only image has BIOS boot code")
	}
	if string(data[512:520]) != "EFI PART" {
		t.Error("no GPT")
	}
}

// TestReproducibleFAT32 builds an image whose ESP is over 256 MiB, so
// FAT32, twice under different SOURCE_DATE_EPOCH values: the ESP's bytes,
// the entries go-diskfs stamps itself included, depend on the epoch
// passed down alone.
func TestReproducibleFAT32(t *testing.T) {
	f := newFixture(t, nil)
	mib := uint32(260)
	esp := func(name, env string) []byte {
		t.Setenv("SOURCE_DATE_EPOCH", env)
		c := loadTestConfig(t)
		c.General.EFIPartitionSize = &mib
		img := filepath.Join(t.TempDir(), name)
		if _, err := Assemble(context.Background(), c, img, WithPackages(f.repo), WithEpoch(testEpoch), WithSize(300)); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		b := make([]byte, int64(mib)*MiB)
		if _, err := fh.ReadAt(b, MiB); err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := esp("a.img", "1000000000"), esp("b.img", "1234567890")
	if string(a[82:87]) != "FAT32" {
		t.Fatalf("ESP is %q, not FAT32", a[82:90])
	}
	if !bytes.Equal(a, b) {
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("ESPs differ, first at byte %d", i)
			}
		}
	}
}

// TestRepoDirRefusesTraversal: a package name that would leave the
// repository directory is refused before any file is looked at, though the
// file it names exists.
func TestRepoDirRefusesTraversal(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "repo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"evil.toml", "evil.pkgar"} {
		if err := os.WriteFile(filepath.Join(parent, f), []byte("name = \"evil\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := &RepoDir{Dir: dir}
	for _, name := range []string{"../evil", "..", "a\x1b[2Jb"} {
		if _, err := r.Package(name); !errors.Is(err, workdir.ErrBadName) {
			t.Errorf("Package(%q): %v", name, err)
		}
		if _, err := r.Open(name); !errors.Is(err, workdir.ErrBadName) {
			t.Errorf("Open(%q): %v", name, err)
		}
	}
}
