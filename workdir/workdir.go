// Package workdir names every path in cook's work directory, the one place
// where cook keeps state. Recipe trees are never written to.
//
//	<work>/recipes/<name>/source/                 fetched source (git checkout, extracted tar, copy)
//	<work>/recipes/<name>/source_info.toml        source identity
//	<work>/recipes/<name>/target/<T>/build/       build directory ($COOKBOOK_BUILD)
//	<work>/recipes/<name>/target/<T>/stage/       staged main package; stage.<opt>/ for optional packages
//	<work>/recipes/<name>/target/<T>/sysroot/     dependencies' stages ($COOKBOOK_SYSROOT)
//	<work>/recipes/<name>/target/<T>/toolchain/   host: dependencies' stages ($COOKBOOK_TOOLCHAIN)
//	<work>/recipes/<name>/target/<T>/stage.pkgar  stage.toml, stage.<opt>.pkgar, stage.<opt>.toml, auto_deps.toml
//	<work>/repo/<T>/                              published repository (<pkg>.pkgar, <pkg>.toml, repo.toml)
//	<work>/keys/id_ed25519.toml                   signing key (and id_ed25519.pub.toml)
//	<work>/logs/<T>/<name>.log                    per-recipe build log
//	<work>/state/                                 action-key → output state
//	<work>/images/                                disk images
//	<work>/tmp/                                   scratch space on the same filesystem, for temp-then-rename
//
// <T> is the target triple the recipe was built for (the host triple for host: recipes).
package workdir

import "path/filepath"

// Dir is a work directory.
type Dir struct {
	Root string // absolute
}

// New returns the work directory rooted at root.
func New(root string) Dir { return Dir{Root: root} }

// Recipe is <work>/recipes/<name>.
func (d Dir) Recipe(name string) string { return filepath.Join(d.Root, "recipes", name) }

// Source is the fetched source tree of a recipe.
func (d Dir) Source(name string) string { return filepath.Join(d.Recipe(name), "source") }

// SourceInfo is the file recording a recipe's source identity.
func (d Dir) SourceInfo(name string) string { return filepath.Join(d.Recipe(name), "source_info.toml") }

// Target is <work>/recipes/<name>/target/<triple>.
func (d Dir) Target(name, triple string) string {
	return filepath.Join(d.Recipe(name), "target", triple)
}

// Build is the build directory of a recipe for a target.
func (d Dir) Build(name, triple string) string { return filepath.Join(d.Target(name, triple), "build") }

// Stage is the staged tree of a package: the main one when opt is "", else
// the optional package opt.
func (d Dir) Stage(name, triple, opt string) string {
	return filepath.Join(d.Target(name, triple), withOpt("stage", opt))
}

// Pkgar is the package archive of a recipe's main or optional package.
func (d Dir) Pkgar(name, triple, opt string) string {
	return filepath.Join(d.Target(name, triple), withOpt("stage", opt)+".pkgar")
}

// StageToml is the package metadata next to Pkgar.
func (d Dir) StageToml(name, triple, opt string) string {
	return filepath.Join(d.Target(name, triple), withOpt("stage", opt)+".toml")
}

// AutoDeps is the computed runtime dependency list of a recipe.
func (d Dir) AutoDeps(name, triple string) string {
	return filepath.Join(d.Target(name, triple), "auto_deps.toml")
}

// Sysroot is the sysroot assembled from a recipe's target dependencies.
func (d Dir) Sysroot(name, triple string) string {
	return filepath.Join(d.Target(name, triple), "sysroot")
}

// Toolchain is the directory assembled from a recipe's host: dependencies.
func (d Dir) Toolchain(name, triple string) string {
	return filepath.Join(d.Target(name, triple), "toolchain")
}

// Repo is the published repository for a target.
func (d Dir) Repo(triple string) string { return filepath.Join(d.Root, "repo", triple) }

// Keys is the directory of the signing key files.
func (d Dir) Keys() string { return filepath.Join(d.Root, "keys") }

// Log is the build log of a recipe.
func (d Dir) Log(name, triple string) string {
	return filepath.Join(d.Root, "logs", triple, name+".log")
}

// State is the directory of persisted build state.
func (d Dir) State() string { return filepath.Join(d.Root, "state") }

// Images is where disk images are written by default.
func (d Dir) Images() string { return filepath.Join(d.Root, "images") }

// Reports is where build reports (cook build --timings) are written by default.
func (d Dir) Reports() string { return filepath.Join(d.Root, "reports") }

// Tmp is scratch space on the work directory's filesystem.
func (d Dir) Tmp() string { return filepath.Join(d.Root, "tmp") }

func withOpt(base, opt string) string {
	if opt == "" {
		return base
	}
	return base + "." + opt
}
