// Package cookbook models upstream Redox recipe trees, reading recipe files and nothing else: recipe.toml files with upstream's exact schema and error rules, tree discovery, and the dependency graph between (recipe, target) nodes.
package cookbook

// Recipe is one recipes/**/recipe.toml.
type Recipe struct {
	Name string `json:"name,omitempty"` // the directory name
	Dir  string `json:"-"`              // absolute path of the recipe directory
	Path string `json:"path,omitempty"` // path of recipe.toml relative to the cookbook root, slash-separated
	// Digest is the BLAKE3 (hex) of recipe.toml's bytes.
	Digest string `json:"-"`
	// Others names the other entries of the recipe directory (patches, data
	// files, subdirectories), leaving out hidden ones and upstream's state
	// directories; nil when recipe.toml is alone. Load fills it.
	Others []string `json:"-"`

	Source           *Source           `json:"source,omitempty"` // nil when the recipe has no [source] table
	Build            Build             `json:"build,omitempty"`
	Package          Package           `json:"package,omitempty"`
	OptionalPackages []OptionalPackage `json:"optional-packages,omitempty"`

	// Diagnostics holds the errors and warnings found while parsing. A recipe
	// with any error is one upstream refuses to load.
	Diagnostics []Diagnostic `json:"-"`
}

// HasErrors reports whether upstream would refuse the recipe.
func (r *Recipe) HasErrors() bool {
	for _, d := range r.Diagnostics {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// SourceKind names a [source] variant.
type SourceKind string

// Source variants, in the order upstream tries them.
const (
	SameAs SourceKind = "same_as"
	Path   SourceKind = "path"
	Git    SourceKind = "git"
	Tar    SourceKind = "tar"
)

// Source is a recipe's [source] table, resolved to one variant.
type Source struct {
	Kind SourceKind `json:"kind,omitempty"`

	SameAs string `json:"same_as,omitempty"` // same_as: path relative to the recipe directory
	Path   string `json:"path,omitempty"`    // path: relative to the cookbook root

	Git          string `json:"git,omitempty"` // git: URL
	Upstream     string `json:"upstream,omitempty"`
	Branch       string `json:"branch,omitempty"`
	Rev          string `json:"rev,omitempty"` // a commit or a tag name
	ShallowClone bool   `json:"shallow_clone,omitempty"`

	Tar    string `json:"tar,omitempty"`    // tar: URL
	Blake3 string `json:"blake3,omitempty"` // hex BLAKE3 of the archive file

	Patches []string `json:"patches,omitempty"` // git and tar: file names relative to the recipe directory
	Script  string   `json:"script,omitempty"`  // git and tar: run in the source directory after patching
}

// Template names a [build] template.
type Template string

// The build templates upstream knows.
const (
	TemplateNone      Template = "none"
	TemplateRemote    Template = "remote"
	TemplateCargo     Template = "cargo"
	TemplateConfigure Template = "configure"
	TemplateCMake     Template = "cmake"
	TemplateMeson     Template = "meson"
	TemplatePython    Template = "python"
	TemplateCustom    Template = "custom"
)

// Templates lists every template in upstream's order.
var Templates = []Template{TemplateNone, TemplateRemote, TemplateCargo, TemplateConfigure,
	TemplateCMake, TemplateMeson, TemplatePython, TemplateCustom}

// Build is a recipe's [build] table. Template-specific fields are set only for
// their template; keys of other templates are ignored as upstream ignores them.
type Build struct {
	Template        Template      `json:"template,omitempty"`
	Dependencies    []PackageName `json:"dependencies,omitempty"`
	DevDependencies []PackageName `json:"dev-dependencies,omitempty"`

	// cargo
	CargoPath             string   `json:"cargopath,omitempty"`
	CargoFlags            []string `json:"cargoflags,omitempty"`
	CargoPackages         []string `json:"cargopackages,omitempty"`
	CargoExamples         []string `json:"cargoexamples,omitempty"`
	ClearLocked           bool     `json:"clearlocked,omitempty"`
	CargoPackagesPrefixed bool     `json:"cargopackagesprefixed,omitempty"`

	ConfigureFlags []string `json:"configureflags,omitempty"` // configure
	CMakeFlags     []string `json:"cmakeflags,omitempty"`     // cmake
	MesonFlags     []string `json:"mesonflags,omitempty"`     // meson

	// python
	PyProjectPath string   `json:"pyprojectpath,omitempty"`
	PipFlags      []string `json:"pipflags,omitempty"`
	LegacySetup   bool     `json:"legacysetup,omitempty"`

	Script string `json:"script,omitempty"` // custom
}

// Package is a recipe's [package] table.
type Package struct {
	Dependencies []PackageName `json:"dependencies,omitempty"`
	Version      string        `json:"version,omitempty"`
	Description  string        `json:"description,omitempty"`
}

// OptionalPackage is one [[optional-packages]] entry: files split out of the
// build into their own package <recipe>.<name>.
type OptionalPackage struct {
	Name         string        `json:"name,omitempty"`
	Files        []string      `json:"files,omitempty"` // globs relative to the stage root; '*' crosses '/'
	Dependencies []PackageName `json:"dependencies,omitempty"`
}
