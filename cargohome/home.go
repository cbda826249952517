package cargohome

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"sync"
)

// Setup is how cook's builds get their crates.
type Setup struct {
	// Shared is the cargo home builds share: crates the fetch phase
	// downloaded (registry/, git/) and, without a Vendor, the config.
	Shared string
	// Registry replaces crates.io when there is no Vendor.
	Registry string
	// Vendor is a `cargo vendor`-style directory holding every crate the
	// builds need; with it nothing is downloaded.
	Vendor string
	// Offline sets net.offline in the shared home's config.
	Offline bool

	mu     sync.Mutex
	ident  map[string]string // Identity by stdVendor
	unions map[string]string // VendorDir by stdVendor
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._+-]`)

// HomeFor is the cargo home Prepare uses for key with a Vendor.
func (s *Setup) HomeFor(key string) string {
	if s.Vendor == "" {
		return s.Shared
	}
	return filepath.Join(s.Shared, "homes", unsafeName.ReplaceAllString(key, "_"))
}

// Prepare returns the CARGO_HOME for one build (or cargo fetch) of the
// source in sourceDir and writes its config.
//
// Without a Vendor it is the shared home, whose config replaces crates.io
// with the Registry if one is set. With a Vendor it is a home of its own
// (HomeFor(key): key names the recipe and target), holding only a config
// that sets net.offline and replaces crates.io and every git source and
// registry the source's Cargo.lock files name with the vendor directory —
// or, when stdVendor is set (a toolchain whose -Zbuild-std resolves the
// standard library's own lock through the same replacement), with the union
// of stdVendor and the vendor directory under Shared/vendor/. vendorAt,
// when set, is where the build will see that directory (a sandbox's fixed
// path): the config names it instead of the host's path.
func (s *Setup) Prepare(ctx context.Context, key, sourceDir, stdVendor, vendorAt string) (string, error) {
	if s.Shared == "" {
		return "", nil
	}
	if s.Vendor == "" {
		if err := Write(s.Shared, Config{Registry: s.Registry, Offline: s.Offline}); err != nil {
			return "", err
		}
		return s.Shared, nil
	}
	dir, err := s.VendorDir(ctx, stdVendor)
	if err != nil {
		return "", err
	}
	var sources []Source
	if sourceDir != "" {
		locks, err := FindLocks(ctx, sourceDir)
		if err != nil {
			return "", fmt.Errorf("finding Cargo.lock files in %s: %w", sourceDir, err)
		}
		if sources, err = LockSources(locks); err != nil {
			return "", err
		}
	}
	home := s.HomeFor(key)
	if vendorAt != "" {
		dir = vendorAt
	}
	if err := Write(home, Config{Vendor: dir, Registry: s.Registry, Sources: sources}); err != nil {
		return "", err
	}
	return home, nil
}

// VendorDir is the directory source builds use: the Vendor, or its union
// with stdVendor, made once per Setup (as Identity reads the directories
// once) rather than listed again for every build.
func (s *Setup) VendorDir(ctx context.Context, stdVendor string) (string, error) {
	if s.Vendor == "" {
		return "", nil
	}
	s.mu.Lock()
	dir, ok := s.unions[stdVendor]
	s.mu.Unlock()
	if ok {
		return dir, nil
	}
	dir, err := Union(ctx, filepath.Join(s.Shared, "vendor"), stdVendor, s.Vendor)
	if err != nil {
		return "", fmt.Errorf("cargo vendor %s: %w", s.Vendor, err)
	}
	s.mu.Lock()
	if s.unions == nil {
		s.unions = map[string]string{}
	}
	s.unions[stdVendor] = dir
	s.mu.Unlock()
	return dir, nil
}

// Identity names what the crates builds see come from, for action keys:
// the registry, or the vendor directory's crates (names and checksum
// files' sizes and times, read once per Setup) with stdVendor's.
func (s *Setup) Identity(stdVendor string) string {
	if s.Vendor == "" {
		return s.Registry
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.ident[stdVendor]; ok {
		return id
	}
	id := "vendor"
	for _, d := range []string{stdVendor, s.Vendor} {
		if d == "" {
			continue
		}
		v, err := UnionIdentity(d)
		if err != nil {
			v = "unreadable"
		}
		id += " " + v
	}
	if s.ident == nil {
		s.ident = map[string]string{}
	}
	s.ident[stdVendor] = id
	return id
}
