package toolchain

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/redox-cook/cook/triple"
)

// DefaultBaseURL is where upstream publishes its prebuilt Redox toolchains:
// <base>/<host triple>/<target>/{gcc,rust,clang,relibc}-install.tar.gz with
// a SHA256SUM file beside them. Mirror rules apply to it like to any URL.
const DefaultBaseURL = "https://static.redox-os.org/toolchain"

// Archive is one prebuilt toolchain archive.
type Archive struct {
	Name     string // gcc-install, ...
	Required bool
}

// Archives are the archives a Redox prefix is made from, merged in this
// order into sysroot/ (upstream's prefix/<target>/sysroot).
var Archives = []Archive{{"gcc-install", true}, {"rust-install", true}, {"clang-install", false}, {"relibc-install", false}}

// InstallResult says what Install did.
type InstallResult struct {
	Target  triple.Triple
	Prefix  string
	Sysroot string
	Files   map[string]string // archive file → verified SHA-256
}

// Source is where Install gets files: Download returns a local copy of a
// URL (with refresh, never an older cached one), Extract unpacks an archive
// into a new directory. Package fetch's downloader and extractor are one.
type Source interface {
	Download(ctx context.Context, url string, refresh bool) (path string, err error)
	Extract(ctx context.Context, archive, dir string) error
}

// Install downloads upstream's prebuilt toolchain for target from src,
// verifies every archive against the published SHA256SUM before unpacking
// it, and assembles <work>/prefix/<target>/sysroot, replacing a previous
// one only when the new one is complete.
func Install(ctx context.Context, target triple.Triple, work string, src Source, baseURL string) (*InstallResult, error) {
	if !target.IsRedox() {
		return nil, fmt.Errorf("toolchain install: %s is not a Redox target; for Linux cross targets install Debian's gcc-%s (cook assembles the prefix itself)", target, debArch(target))
	}
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	base := strings.TrimRight(baseURL, "/") + "/" + string(triple.Host()) + "/" + string(target) + "/"
	sumsPath, err := src.Download(ctx, base+"SHA256SUM", true)
	if err != nil {
		return nil, fmt.Errorf("toolchain install %s: checksums: %w", target, err)
	}
	sums, err := parseSums(sumsPath)
	if err != nil {
		return nil, fmt.Errorf("toolchain install %s: %s: %w", target, base+"SHA256SUM", err)
	}
	prefix := PrefixDir(work, target)
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(prefix, "install.tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	res := &InstallResult{Target: target, Prefix: prefix, Sysroot: filepath.Join(prefix, "sysroot"), Files: map[string]string{}}
	sysroot := filepath.Join(tmp, "sysroot")
	if err := os.MkdirAll(sysroot, 0o755); err != nil {
		return nil, err
	}
	for _, a := range Archives {
		file := a.Name + ".tar.gz"
		want, listed := sums[file]
		if !listed {
			if a.Required {
				return nil, fmt.Errorf("toolchain install %s: %s lists no %s", target, base+"SHA256SUM", file)
			}
			continue
		}
		path, err := src.Download(ctx, base+file, false)
		if err != nil {
			return nil, fmt.Errorf("toolchain install %s: %w", target, err)
		}
		got, err := sha256File(path)
		if err != nil {
			return nil, err
		}
		if got != want {
			return nil, fmt.Errorf("toolchain install %s: %s: SHA-256 mismatch: SHA256SUM says %s, the download is %s (nothing was installed)", target, base+file, want, got)
		}
		res.Files[file] = got
		dir := filepath.Join(tmp, a.Name)
		if err := src.Extract(ctx, path, dir); err != nil {
			return nil, fmt.Errorf("toolchain install %s: %s: %w", target, file, err)
		}
		if err := linkTree(ctx, dir, sysroot); err != nil {
			return nil, fmt.Errorf("toolchain install %s: %s: %w", target, file, err)
		}
	}
	var tag strings.Builder
	files := make([]string, 0, len(res.Files))
	for f := range res.Files {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		fmt.Fprintf(&tag, "%s  %s\n", res.Files[f], f)
	}
	if err := os.WriteFile(filepath.Join(sysroot, ".cook-prefix"), []byte(tag.String()), 0o644); err != nil {
		return nil, err
	}
	old := filepath.Join(tmp, "old")
	if _, err := os.Lstat(res.Sysroot); err == nil {
		if err := os.Rename(res.Sysroot, old); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(sysroot, res.Sysroot); err != nil {
		return nil, err
	}
	return res, nil
}

// parseSums reads a sha256sum listing: "<hex>  <file>" per line.
func parseSums(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 || len(fields[0]) != 64 {
			return nil, fmt.Errorf("line %d: want \"<sha256>  <file>\", got %q", line, text)
		}
		sums[strings.TrimPrefix(filepath.Base(fields[1]), "*")] = strings.ToLower(fields[0])
	}
	return sums, sc.Err()
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
