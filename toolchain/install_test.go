package toolchain

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/triple"
)

// tarGz makes a .tar.gz whose entries sit under one top directory, as
// upstream's toolchain archives do.
func tarGz(t *testing.T, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		mode := int64(0o644)
		if strings.HasPrefix(name, "bin/") {
			mode = 0o755
		}
		tw.WriteHeader(&tar.Header{Name: "top/" + name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	f.Close()
}

func TestInstallRedoxPrefix(t *testing.T) {
	target := triple.Triple("x86_64-unknown-redox")
	srv := t.TempDir()
	dir := filepath.Join(srv, string(triple.Host()), string(target))
	os.MkdirAll(dir, 0o755)
	tools := map[string]string{}
	for _, tool := range []string{"gcc", "g++", "gcc-ar", "as", "ld", "gcc-nm", "objcopy", "objdump", "gcc-ranlib", "readelf", "strip"} {
		tools["bin/x86_64-unknown-redox-"+tool] = "#!/bin/sh\necho redox " + tool + "\n"
	}
	tarGz(t, filepath.Join(dir, "gcc-install.tar.gz"), tools)
	tarGz(t, filepath.Join(dir, "rust-install.tar.gz"), map[string]string{"bin/cargo": "#!/bin/sh\n", "lib/rustlib/x": "x"})
	var sums strings.Builder
	for _, f := range []string{"gcc-install.tar.gz", "rust-install.tar.gz"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		h := sha256.Sum256(b)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(h[:]), f)
	}
	os.WriteFile(filepath.Join(dir, "SHA256SUM"), []byte(sums.String()), 0o644)
	server := httptest.NewServer(http.FileServer(http.Dir(srv)))
	defer server.Close()

	work := t.TempDir()
	dl, err := fetch.NewDownloader(fetch.WithCacheDir(t.TempDir()),
		fetch.WithMirrors(map[string]string{DefaultBaseURL + "/": server.URL + "/"}))
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := Find(context.Background(), target, work, WithoutAutoBootstrap())
	if tc.Ready() {
		t.Fatal("toolchain ready before install")
	}
	res, err := Install(context.Background(), target, work, dl, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 2 {
		t.Errorf("installed %v", res.Files)
	}
	tc, _ = Find(context.Background(), target, work)
	if !tc.Ready() {
		t.Fatalf("missing after install: %v", tc.Missing)
	}
	if _, err := os.Stat(filepath.Join(res.Sysroot, "bin", "cargo")); err != nil {
		t.Error(err)
	}
	if tc.Provider != Prebuilt {
		t.Errorf("provider %q, want %q", tc.Provider, Prebuilt)
	}
	// bootstrapping does not replace an installed prebuilt prefix unasked
	if _, err := Bootstrap(context.Background(), target, work, BootstrapOptions{}); err != nil && !errors.Is(err, ErrPrebuiltPresent) && !errors.Is(err, ErrBootstrapMissing) {
		t.Errorf("bootstrap over a prebuilt prefix: %v", err)
	} else if err == nil {
		t.Error("bootstrap replaced a prebuilt prefix without Replace")
	}

	// A tampered archive: refused with both hashes named, the prefix intact.
	tarGz(t, filepath.Join(dir, "rust-install.tar.gz"), map[string]string{"bin/cargo": "#!/bin/sh\necho evil\n"})
	dl2, _ := fetch.NewDownloader(fetch.WithCacheDir(t.TempDir()),
		fetch.WithMirrors(map[string]string{DefaultBaseURL + "/": server.URL + "/"}))
	_, err = Install(context.Background(), target, work, dl2, "")
	if err == nil || !strings.Contains(err.Error(), "SHA-256 mismatch") || !strings.Contains(err.Error(), "rust-install.tar.gz") {
		t.Fatalf("tampered install: %v", err)
	}
	if tc, _ = Find(context.Background(), target, work); !tc.Ready() {
		t.Error("a failed install damaged the installed prefix")
	}
}
