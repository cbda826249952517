package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/repo"
	"github.com/redox-cook/cook/workdir"
)

const testTarget = "x86_64-unknown-redox"

// fixture is a work directory with a published repository of real signed
// packages, built from small generated stage trees:
//
//	base        usr/lib/init.d units (10_dhcpd.service, 10_smolnetd.service), etc/demo.conf
//	libdemo     usr/lib/libdemo.so.1
//	hello       usr/bin/hello (a dynamically linked program built with gcc
//	            when gcc is there), bin/hello-again (through the /bin link),
//	            usr/bin/hi -> hello; depends on libdemo
//	meta        a metapackage depending on hello
//	bootloader  usr/lib/boot/bootloader.{efi,bios} (stand-ins, or the EFI
//	            program the test passes)
type fixture struct {
	work workdir.Dir
	repo *RepoDir
	bios []byte
	efi  []byte
}

// newFixture builds the fixture; efi is the bootloader.efi to package
// (nil for a stand-in).
func newFixture(t testing.TB, efi []byte) *fixture {
	t.Helper()
	ctx := context.Background()
	w := workdir.New(t.TempDir())
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	key, err := pkgar.NewSecretKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(w.Keys(), 0o755); err != nil {
		t.Fatal(err)
	}
	sk, err := pkgar.MarshalSecretKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(w.Keys(), pkgar.SecretKeyFile), sk, 0o600)
	writeFile(t, filepath.Join(w.Keys(), pkgar.PublicKeyFile), pkgar.MarshalPublicKey(key.Public()), 0o644)

	f := &fixture{work: w, efi: efi}
	if f.efi == nil {
		f.efi = append([]byte("MZ"), make([]byte, 3000)...)
	}
	// A stand-in BIOS bootloader shaped like upstream's: 384 KiB, boot code
	// in sector 0, sectors 1..33 zero, recognisable bytes after.
	f.bios = make([]byte, 384<<10)
	for i := range f.bios {
		f.bios[i] = byte(i*7 + 1)
	}
	for i := 512; i < 34*512; i++ {
		f.bios[i] = 0
	}

	stage := func(name string, files map[string]string, modes map[string]os.FileMode) string {
		dir := w.Stage(name, testTarget, "")
		for p, data := range files {
			full := filepath.Join(dir, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if len(data) > 2 && data[:2] == "->" {
				if err := os.Symlink(data[2:], full); err != nil {
					t.Fatal(err)
				}
				continue
			}
			m := modes[p]
			if m == 0 {
				m = 0o644
			}
			writeFile(t, full, []byte(data), m)
		}
		return dir
	}
	pkg := func(name string, deps []string) {
		if _, err := repo.PackageRecipe(ctx, repo.Packaging{Work: w, Recipe: name, Target: testTarget, Version: "1.0",
			Key: key, Depends: deps, AutoDeps: []string{}}); err != nil {
			t.Fatal(err)
		}
	}

	stage("base", map[string]string{
		"usr/lib/init.d/10_smolnetd.service": "[unit]\ndescription = \"netstack\"\n[service]\ncmd = \"netstack\"\ntype = \"notify\"\n",
		"usr/lib/init.d/10_dhcpd.service":    "[unit]\ndescription = \"dhcpd\"\nrequires_weak = [\"10_smolnetd.service\"]\n[service]\ncmd = \"dhcpd\"\ntype = \"oneshot_async\"\n",
		"etc/demo.conf":                      "from the package\n",
		"usr/bin/setuid-tool":                "#!/bin/sh\n",
	}, map[string]os.FileMode{"usr/bin/setuid-tool": 0o755 | os.ModeSetuid})
	pkg("base", nil)
	stage("libdemo", map[string]string{"usr/lib/libdemo.so.1": "not really a library"}, nil)
	pkg("libdemo", nil)
	hello := stage("hello", map[string]string{
		"usr/bin/hello":   "#!/bin/sh\necho hello\n",
		"bin/hello-again": "#!/bin/sh\necho again\n",
		"usr/bin/hi":      "->hello",
	}, map[string]os.FileMode{"usr/bin/hello": 0o755, "bin/hello-again": 0o755})
	buildHello(t, filepath.Join(hello, "usr/bin/hello"))
	pkg("hello", []string{"libdemo"})
	if _, err := repo.PackageRecipe(ctx, repo.Packaging{Work: w, Recipe: "meta", Target: testTarget, Meta: true, Depends: []string{"hello"}}); err != nil {
		t.Fatal(err)
	}
	bl := stage("bootloader", map[string]string{"usr/lib/boot/bootloader.bios": string(f.bios)}, nil)
	writeFile(t, filepath.Join(bl, "usr/lib/boot/bootloader.efi"), f.efi, 0o644)
	pkg("bootloader", nil)

	if _, err := repo.Publish(ctx, w, testTarget, []string{"base", "bootloader", "meta"}, repo.WithBuildID("testbuild")); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRepo(w.Repo(testTarget), filepath.Join(w.Keys(), pkgar.PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	f.repo = r
	return f
}

// buildHello replaces the stand-in at path with a real dynamically linked
// hello built with gcc, when gcc is installed.
func buildHello(t testing.TB, path string) {
	if _, err := exec.LookPath("gcc"); err != nil {
		return
	}
	src := filepath.Join(t.TempDir(), "hello.c")
	writeFile(t, src, []byte("#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n"), 0o644)
	if out, err := exec.Command("gcc", "-O1", "-o", path, src).CombinedOutput(); err != nil {
		t.Logf("gcc hello: %v\n%s (keeping the script)", err, out)
	}
}

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode.Perm()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
