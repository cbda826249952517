// Package demo is the small cookbook compiled into cook for `cook demo`, so that the demo needs no network and no setup.
package demo

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed all:cookbook
var files embed.FS

// Recipes are the demo's recipes, dependencies before dependents: a C
// library, a C program linking it through its sysroot, a Rust program, and a
// meta package gathering them (Config is the filesystem config installing
// it).
var Recipes = []string{"libhello", "hello", "rhello", "demo"}

// Config is the demo's filesystem config, relative to the cookbook root.
const Config = "config/demo.toml"

// Extract writes the demo cookbook to dir, replacing what is there.
func Extract(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	sub, err := fs.Sub(files, "cookbook")
	if err != nil {
		return err
	}
	return fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
