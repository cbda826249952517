package cookbook

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"github.com/zeebo/blake3"
)

// Parse reads one recipe.toml with upstream's schema rules (spec/cookbook.md
// §2.8): what upstream refuses is an Error diagnostic, what it silently
// accepts but is almost surely a mistake is a Warning. Parse always returns a
// Recipe holding whatever could be read, so that a tree with broken recipes
// can still be listed and graphed.
//
// name is the recipe name (the directory name), dir the recipe directory and
// rel the file's path relative to the cookbook root, used in diagnostics.
func Parse(name, dir, rel string, data []byte) *Recipe {
	sum := blake3.Sum256(data)
	r := &Recipe{Name: name, Dir: dir, Path: rel, Digest: hex.EncodeToString(sum[:]), Build: Build{Template: TemplateNone}}
	p := &parser{r: r, text: string(data)}
	var doc map[string]any
	if _, err := toml.Decode(p.text, &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			line, col := place(p.text, pe.Position)
			p.addAt(Error, line, col, "TOML syntax: %s", pe.Message)
		} else {
			p.addAt(Error, 0, 0, "TOML syntax: %v", err)
		}
		return r
	}
	p.recipe(doc)
	return r
}

// place returns the line and column (1-based, in characters) of a TOML
// error. They are computed from the byte offset: the decoder counts an error
// found at a newline as being on the next line already.
func place(text string, pos toml.Position) (line, col int) {
	if pos.Start < 0 || pos.Start > len(text) || pos.Line == 0 {
		return pos.Line, pos.Col
	}
	before := text[:pos.Start]
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return strings.Count(before, "\n") + 1, utf8.RuneCountInString(before[lineStart:]) + 1
}

type parser struct {
	r    *Recipe
	text string
	keys keyIndex // built lazily
}

func (p *parser) addAt(sev Severity, line, col int, format string, args ...any) {
	p.r.Diagnostics = append(p.r.Diagnostics, Diagnostic{
		Severity: sev, Recipe: p.r.Name, Path: p.r.Path, Line: line, Column: col,
		Message: fmt.Sprintf(format, args...),
	})
}

// add reports a diagnostic placed at the first of keys found in the file.
func (p *parser) add(sev Severity, keys []string, format string, args ...any) {
	if p.keys == nil {
		p.keys = indexKeys(p.text)
	}
	line, col := p.keys.at(keys...)
	p.addAt(sev, line, col, format, args...)
}

var topKeys = map[string]bool{"source": true, "build": true, "package": true, "optional-packages": true}

func (p *parser) recipe(doc map[string]any) {
	for _, k := range sortedKeys(doc) {
		if !topKeys[k] {
			p.add(Warning, []string{k}, "unknown key %q (upstream ignores it)", k)
		}
	}
	if v, ok := doc["source"]; ok {
		p.source(v)
	}
	if v, ok := doc["build"]; ok {
		p.build(v)
	}
	if v, ok := doc["package"]; ok {
		p.pkg(v)
	}
	if v, ok := doc["optional-packages"]; ok {
		p.optional(v)
	}
}

// kind is the TOML type a schema key wants.
type kind uint8

const (
	kString kind = iota
	kBool
	kStrings
)

func (k kind) String() string {
	switch k {
	case kBool:
		return "a boolean"
	case kStrings:
		return "an array of strings"
	}
	return "a string"
}

func typeOK(v any, k kind) bool {
	switch k {
	case kString:
		_, ok := v.(string)
		return ok
	case kBool:
		_, ok := v.(bool)
		return ok
	case kStrings:
		switch l := v.(type) {
		case []any:
			for _, e := range l {
				if _, ok := e.(string); !ok {
					return false
				}
			}
			return true
		case []string:
			return true
		}
	}
	return false
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	}
	return fmt.Sprintf("%T", v)
}

type field struct {
	key  string
	kind kind
}

// sourceVariants are the [source] variants in upstream's order; the first
// field of each is its required key.
var sourceVariants = []struct {
	kind   SourceKind
	fields []field
}{
	{SameAs, []field{{"same_as", kString}}},
	{Path, []field{{"path", kString}}},
	{Git, []field{{"git", kString}, {"upstream", kString}, {"branch", kString}, {"rev", kString},
		{"shallow_clone", kBool}, {"patches", kStrings}, {"script", kString}}},
	{Tar, []field{{"tar", kString}, {"blake3", kString}, {"patches", kStrings}, {"script", kString}}},
}

func (p *parser) source(v any) {
	t, ok := v.(map[string]any)
	if !ok {
		p.add(Error, []string{"source"}, "[source] must be a table, not %s", tomlType(v))
		return
	}
	var why, where []string
	for _, variant := range sourceVariants {
		req := variant.fields[0].key
		if _, ok := t[req]; !ok {
			continue
		}
		bad := ""
		for _, f := range variant.fields {
			if fv, ok := t[f.key]; ok && !typeOK(fv, f.kind) {
				bad = fmt.Sprintf("%s source: %q must be %s, not %s", variant.kind, f.key, f.kind, tomlType(fv))
				where = append(where, "source."+f.key)
				break
			}
		}
		if bad != "" {
			why = append(why, bad)
			continue
		}
		p.r.Source = p.fillSource(variant.kind, t, variant.fields)
		return
	}
	if len(t) == 0 {
		p.add(Error, []string{"source"}, "[source] is empty: it matches no source variant (same_as, path, git or tar)")
		return
	}
	msg := "[source] matches no source variant: it needs one of same_as, path, git or tar"
	keys := append(where, "source")
	if len(why) > 0 {
		msg = "[source] matches no source variant: " + strings.Join(why, "; ")
	}
	p.add(Error, keys, "%s", msg)
}

func (p *parser) fillSource(k SourceKind, t map[string]any, fields []field) *Source {
	s := &Source{Kind: k}
	str := func(key string) string { v, _ := t[key].(string); return v }
	switch k {
	case SameAs:
		s.SameAs = str("same_as")
	case Path:
		s.Path = str("path")
	case Git:
		s.Git, s.Upstream, s.Branch, s.Rev = str("git"), str("upstream"), str("branch"), str("rev")
		s.ShallowClone, _ = t["shallow_clone"].(bool)
	case Tar:
		s.Tar, s.Blake3 = str("tar"), str("blake3")
	}
	if k == Git || k == Tar {
		s.Patches = strs(t["patches"])
		s.Script = str("script")
	}
	known := map[string]bool{}
	for _, f := range fields {
		known[f.key] = true
	}
	for _, key := range sortedKeys(t) {
		if known[key] {
			continue
		}
		where := []string{"source." + key, "source"}
		switch {
		case key == "b3sum" || key == "blake3sum" || key == "sha256" || key == "checksum":
			p.add(Warning, where, "unknown key %q in [source] (did you mean \"blake3\"?): upstream ignores it and the download is not verified", key)
		case anyVariantHas(key):
			p.add(Warning, where, "key %q is ignored for a %s source", key, k)
		default:
			p.add(Warning, where, "unknown key %q in [source] (upstream ignores it)", key)
		}
	}
	if k == Tar && s.Blake3 == "" {
		p.add(Warning, []string{"source.tar", "source"}, "tar source has no blake3 checksum: the download cannot be verified")
	}
	if k == Tar && s.Blake3 != "" && !isHex(s.Blake3, 64) {
		p.add(Warning, []string{"source.blake3", "source"}, "blake3 %q is not 64 hex digits: the download will never verify", s.Blake3)
	}
	return s
}

func anyVariantHas(key string) bool {
	for _, v := range sourceVariants {
		for _, f := range v.fields {
			if f.key == key {
				return true
			}
		}
	}
	return false
}

var buildCommon = []field{{"template", kString}, {"dependencies", kStrings}, {"dev-dependencies", kStrings}}

var templateFields = map[Template][]field{
	TemplateCargo: {{"cargopath", kString}, {"cargoflags", kStrings}, {"cargopackages", kStrings},
		{"cargoexamples", kStrings}, {"clearlocked", kBool}, {"cargopackagesprefixed", kBool}},
	TemplateConfigure: {{"configureflags", kStrings}},
	TemplateCMake:     {{"cmakeflags", kStrings}},
	TemplateMeson:     {{"mesonflags", kStrings}},
	TemplatePython:    {{"pyprojectpath", kString}, {"pipflags", kStrings}, {"legacysetup", kBool}},
	TemplateCustom:    {{"script", kString}},
}

func templateOwning(key string) Template {
	for t, fs := range templateFields {
		for _, f := range fs {
			if f.key == key {
				return t
			}
		}
	}
	return ""
}

// build reads the [build] table: dependencies first, so that a recipe
// upstream refuses still shows its edges in the graph, then the template
// and the keys it owns.
func (p *parser) build(v any) {
	t, ok := v.(map[string]any)
	if !ok {
		p.add(Error, []string{"build"}, "[build] must be a table, not %s", tomlType(v))
		return
	}
	p.buildDeps(t)
	tmpl, ok := p.buildTemplate(t)
	if !ok {
		return
	}
	p.r.Build.Template = tmpl
	p.templateKeys(t, tmpl)
	p.unknownBuildKeys(t, tmpl)
}

// buildDeps reads build.dependencies and build.dev-dependencies (both
// type-checked first).
func (p *parser) buildDeps(t map[string]any) {
	valid := map[string]bool{}
	for _, f := range buildCommon[1:] {
		if fv, ok := t[f.key]; ok {
			if !typeOK(fv, f.kind) {
				p.add(Error, []string{"build." + f.key, "build"}, "[build] %s must be %s, not %s", f.key, f.kind, tomlType(fv))
				continue
			}
			valid[f.key] = true
		}
	}
	b := &p.r.Build
	if valid["dependencies"] {
		b.Dependencies = p.deps(strs(t["dependencies"]), "build.dependencies", "")
	}
	if valid["dev-dependencies"] {
		b.DevDependencies = p.deps(strs(t["dev-dependencies"]), "build.dev-dependencies", "")
	}
}

// buildTemplate reads build.template, which upstream requires to be one
// it knows.
func (p *parser) buildTemplate(t map[string]any) (Template, bool) {
	tv, ok := t["template"]
	if !ok {
		p.add(Error, []string{"build"}, "[build] has no template: upstream requires `template` whenever a [build] table exists (one of %s)", templateList())
		return "", false
	}
	ts, ok := tv.(string)
	if !ok {
		p.add(Error, []string{"build.template", "build"}, "[build] template must be a string, not %s", tomlType(tv))
		return "", false
	}
	tmpl := Template(ts)
	if !slices.Contains(Templates, tmpl) {
		p.add(Error, []string{"build.template", "build"}, "unknown build template %q (upstream knows %s)", ts, templateList())
		return "", false
	}
	return tmpl, true
}

// templateKeys type-checks the keys template tmpl owns and fills in those
// of the right type; a custom template needs its script.
func (p *parser) templateKeys(t map[string]any, tmpl Template) {
	okKeys := map[string]bool{}
	for _, f := range templateFields[tmpl] {
		fv, present := t[f.key]
		if !present {
			continue
		}
		if !typeOK(fv, f.kind) {
			p.add(Error, []string{"build." + f.key, "build"}, "[build] %s must be %s, not %s", f.key, f.kind, tomlType(fv))
			continue
		}
		okKeys[f.key] = true
	}
	if tmpl == TemplateCustom {
		if _, ok := t["script"]; !ok {
			p.add(Error, []string{"build.template", "build"}, "template \"custom\" needs a script: upstream refuses a custom build without `script`")
		}
	}
	get := func(key string) any {
		if okKeys[key] {
			return t[key]
		}
		return nil
	}
	s := func(key string) string { v, _ := get(key).(string); return v }
	bl := func(key string) bool { v, _ := get(key).(bool); return v }
	b := &p.r.Build
	switch tmpl {
	case TemplateCargo:
		b.CargoPath = s("cargopath")
		b.CargoFlags = strs(get("cargoflags"))
		b.CargoPackages = strs(get("cargopackages"))
		b.CargoExamples = strs(get("cargoexamples"))
		b.ClearLocked = bl("clearlocked")
		b.CargoPackagesPrefixed = bl("cargopackagesprefixed")
	case TemplateConfigure:
		b.ConfigureFlags = strs(get("configureflags"))
	case TemplateCMake:
		b.CMakeFlags = strs(get("cmakeflags"))
	case TemplateMeson:
		b.MesonFlags = strs(get("mesonflags"))
	case TemplatePython:
		b.PyProjectPath = s("pyprojectpath")
		b.PipFlags = strs(get("pipflags"))
		b.LegacySetup = bl("legacysetup")
	case TemplateCustom:
		b.Script = s("script")
	}
}

// unknownBuildKeys warns about the keys of [build] that template tmpl
// ignores: another template's, the older cookbook's, or none upstream
// knows.
func (p *parser) unknownBuildKeys(t map[string]any, tmpl Template) {
	for _, key := range sortedKeys(t) {
		if hasField(buildCommon, key) || hasField(templateFields[tmpl], key) {
			continue
		}
		where := []string{"build." + key, "build"}
		if owner := templateOwning(key); owner != "" {
			p.add(Warning, where, "key %q belongs to template %q and is ignored for template %q", key, owner, tmpl)
		} else if successor, ok := renamedBuildKeys[key]; ok {
			p.add(Warning, where, "key %q in [build] is the older cookbook's name for %q: upstream ignores it now, so the default applies (rename it to %s)", key, successor, successor)
		} else {
			p.add(Warning, where, "unknown key %q in [build] (upstream ignores it)", key)
		}
	}
}

// renamedBuildKeys maps [build] keys of the older cookbook schema
// (github.com/redox-os/cookbook) to the keys that replaced them.
var renamedBuildKeys = map[string]string{"package_path": "cargopath"}

func hasField(fs []field, key string) bool {
	for _, f := range fs {
		if f.key == key {
			return true
		}
	}
	return false
}

func templateList() string {
	s := make([]string, len(Templates))
	for i, t := range Templates {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

var packageFields = []field{{"dependencies", kStrings}, {"version", kString}, {"description", kString}}

func (p *parser) pkg(v any) {
	t, ok := v.(map[string]any)
	if !ok {
		p.add(Error, []string{"package"}, "[package] must be a table, not %s", tomlType(v))
		return
	}
	valid := p.checkFields(t, packageFields, "package", "[package]")
	pk := &p.r.Package
	if valid["dependencies"] {
		pk.Dependencies = p.deps(strs(t["dependencies"]), "package.dependencies", "")
	}
	if valid["version"] {
		pk.Version = t["version"].(string)
	}
	if valid["description"] {
		pk.Description = t["description"].(string)
	}
}

var optionalFields = []field{{"name", kString}, {"files", kStrings}, {"dependencies", kStrings}}

func (p *parser) optional(v any) {
	list, ok := v.([]map[string]any)
	if !ok {
		if l, isList := v.([]any); isList && len(l) == 0 {
			return
		}
		p.add(Error, []string{"optional-packages"}, "optional-packages must be an array of tables ([[optional-packages]]), not %s", tomlType(v))
		return
	}
	for i, t := range list {
		prefix := "optional-packages." + strconv.Itoa(i)
		where := fmt.Sprintf("[[optional-packages]] #%d", i+1)
		valid := p.checkFields(t, optionalFields, prefix, where)
		var o OptionalPackage
		if valid["name"] {
			o.Name = t["name"].(string)
			if !ValidRecipeName(o.Name) {
				p.add(Error, []string{prefix + ".name", prefix}, "%s: name %q is not a valid package name", where, o.Name)
			}
		} else if _, ok := t["name"]; !ok {
			p.add(Error, []string{prefix}, "%s has no name", where)
		}
		if valid["files"] {
			o.Files = strs(t["files"])
		}
		if valid["dependencies"] {
			o.Dependencies = p.deps(strs(t["dependencies"]), prefix+".dependencies", p.r.Name)
		}
		p.r.OptionalPackages = append(p.r.OptionalPackages, o)
	}
}

// checkFields type-checks the known fields of a table and warns about unknown
// keys; it returns which fields are present with the right type.
func (p *parser) checkFields(t map[string]any, fields []field, prefix, where string) map[string]bool {
	valid := map[string]bool{}
	for _, f := range fields {
		fv, ok := t[f.key]
		if !ok {
			continue
		}
		if !typeOK(fv, f.kind) {
			p.add(Error, []string{prefix + "." + f.key, prefix}, "%s %s must be %s, not %s", where, f.key, f.kind, tomlType(fv))
			continue
		}
		valid[f.key] = true
	}
	for _, key := range sortedKeys(t) {
		if !hasField(fields, key) {
			p.add(Warning, []string{prefix + "." + key, prefix}, "unknown key %q in %s (upstream ignores it)", key, where)
		}
	}
	return valid
}

// deps parses dependency names; self is the recipe an empty name refers to
// (".runtime" in an optional package means this recipe's runtime package).
func (p *parser) deps(list []string, key, self string) []PackageName {
	var out []PackageName
	for _, s := range list {
		n, err := ParsePackageName(s)
		if err != nil {
			p.add(Error, []string{key}, "%s: %v", key, err)
			continue
		}
		if n.Name == "" {
			if self == "" {
				p.add(Error, []string{key}, "%s: package name %q invalid: empty recipe name", key, s)
				continue
			}
			n.Name = self
		}
		out = append(out, n)
	}
	return out
}

func strs(v any) []string {
	switch l := v.(type) {
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return l
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}
