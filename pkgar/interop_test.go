package pkgar

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInteropTools checks a package's cryptography with independent
// implementations: b3sum (BLAKE3 of every entry's file and of the entry
// table) and openssl (the Ed25519 signature over header bytes 64..136).
func TestInteropTools(t *testing.T) {
	ctx := context.Background()
	key := testKey(t)
	dir := t.TempDir()
	stage := filepath.Join(dir, "stage")
	writeTree(t, stage, generated(3))
	pkg := filepath.Join(dir, "p.pkgar")
	info, err := Create(ctx, pkg, stage, key)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatal(err)
	}
	head := data[:info.Header.HeadSize()]

	t.Run("b3sum", func(t *testing.T) {
		b3sum, err := exec.LookPath("b3sum")
		if err != nil {
			t.Skip("b3sum not installed (Debian package b3sum)")
		}
		sum := func(b []byte) string {
			cmd := exec.Command(b3sum, "--no-names")
			cmd.Stdin = bytes.NewReader(b)
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(out))
		}
		if got := sum(head[HeaderSize:]); got != info.Header.Blake3.String() {
			t.Errorf("entry table: b3sum %s, header %s", got, info.Header.Blake3)
		}
		for _, e := range info.Entries {
			full := filepath.Join(stage, filepath.FromSlash(e.Path))
			var content []byte
			if e.IsSymlink() {
				target, err := os.Readlink(full)
				if err != nil {
					t.Fatal(err)
				}
				content = []byte(target)
			} else if content, err = os.ReadFile(full); err != nil {
				t.Fatal(err)
			}
			if got := sum(content); got != e.Blake3.String() {
				t.Errorf("%s: b3sum %s, entry %s", e.Path, got, e.Blake3)
			}
		}
	})

	t.Run("openssl", func(t *testing.T) {
		openssl, err := exec.LookPath("openssl")
		if err != nil {
			t.Skip("openssl not installed")
		}
		pub := key.Public()
		der, _ := hex.DecodeString("302a300506032b6570032100" + hex.EncodeToString(pub[:]))
		files := map[string][]byte{"pub.der": der, "msg": head[64:HeaderSize], "sig": head[:64]}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		verify := func() error {
			cmd := exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", "pub.der", "-rawin", "-in", "msg", "-sigfile", "sig")
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("%w: %s", err, out)
			}
			return nil
		}
		if err := verify(); err != nil {
			t.Errorf("openssl rejects the signature: %v", err)
		}
		bad := bytes.Clone(head[64:HeaderSize])
		bad[40] ^= 1
		if err := os.WriteFile(filepath.Join(dir, "msg"), bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := verify(); err == nil {
			t.Error("openssl accepts the signature over a changed header")
		}
	})
}
