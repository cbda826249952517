package cookbook

// The parse cache's encoding of a Recipe: every field Parse fills, in
// order, except those Load derives from where the file is (Name, Dir,
// Path, Others). Lists keep nil apart from empty (their length plus one, 0
// for nil), so that a decoded recipe is the parsed one exactly
// (TestRecipeCodecCoversEveryField fills every field to make sure none is
// forgotten).

func encodeRecipe(r *Recipe) string {
	w := &encoder{b: make([]byte, 0, 256)}
	w.str(r.Digest)
	w.bool(r.Source != nil)
	if s := r.Source; s != nil {
		w.str(string(s.Kind))
		w.str(s.SameAs)
		w.str(s.Path)
		w.str(s.Git)
		w.str(s.Upstream)
		w.str(s.Branch)
		w.str(s.Rev)
		w.bool(s.ShallowClone)
		w.str(s.Tar)
		w.str(s.Blake3)
		w.strs(s.Patches)
		w.str(s.Script)
	}
	b := &r.Build
	w.str(string(b.Template))
	w.names(b.Dependencies)
	w.names(b.DevDependencies)
	w.str(b.CargoPath)
	w.strs(b.CargoFlags)
	w.strs(b.CargoPackages)
	w.strs(b.CargoExamples)
	w.bool(b.ClearLocked)
	w.bool(b.CargoPackagesPrefixed)
	w.strs(b.ConfigureFlags)
	w.strs(b.CMakeFlags)
	w.strs(b.MesonFlags)
	w.str(b.PyProjectPath)
	w.strs(b.PipFlags)
	w.bool(b.LegacySetup)
	w.str(b.Script)
	w.names(r.Package.Dependencies)
	w.str(r.Package.Version)
	w.str(r.Package.Description)
	w.len(r.OptionalPackages == nil, len(r.OptionalPackages))
	for _, o := range r.OptionalPackages {
		w.str(o.Name)
		w.strs(o.Files)
		w.names(o.Dependencies)
	}
	w.len(r.Diagnostics == nil, len(r.Diagnostics))
	for _, d := range r.Diagnostics {
		w.uint(uint64(d.Severity))
		w.str(d.Recipe)
		w.str(d.Path)
		w.int(int64(d.Line))
		w.int(int64(d.Column))
		w.str(d.Message)
	}
	return string(w.b)
}

// decodeRecipe decodes what encodeRecipe wrote, for the recipe name in
// dir whose file is rel.
func decodeRecipe(s, name, dir, rel string) (*Recipe, error) {
	d := &decoder{s: s}
	r := &Recipe{Name: name, Dir: dir, Path: rel}
	r.Digest = d.str()
	if d.bool() {
		s := &Source{}
		s.Kind = SourceKind(d.str())
		s.SameAs = d.str()
		s.Path = d.str()
		s.Git = d.str()
		s.Upstream = d.str()
		s.Branch = d.str()
		s.Rev = d.str()
		s.ShallowClone = d.bool()
		s.Tar = d.str()
		s.Blake3 = d.str()
		s.Patches = d.strs()
		s.Script = d.str()
		r.Source = s
	}
	b := &r.Build
	b.Template = Template(d.str())
	b.Dependencies = d.names()
	b.DevDependencies = d.names()
	b.CargoPath = d.str()
	b.CargoFlags = d.strs()
	b.CargoPackages = d.strs()
	b.CargoExamples = d.strs()
	b.ClearLocked = d.bool()
	b.CargoPackagesPrefixed = d.bool()
	b.ConfigureFlags = d.strs()
	b.CMakeFlags = d.strs()
	b.MesonFlags = d.strs()
	b.PyProjectPath = d.str()
	b.PipFlags = d.strs()
	b.LegacySetup = d.bool()
	b.Script = d.str()
	r.Package.Dependencies = d.names()
	r.Package.Version = d.str()
	r.Package.Description = d.str()
	r.OptionalPackages = decodeList(d, 3, func() OptionalPackage {
		return OptionalPackage{Name: d.str(), Files: d.strs(), Dependencies: d.names()}
	})
	r.Diagnostics = decodeList(d, 6, func() Diagnostic {
		return Diagnostic{Severity: Severity(d.uint()), Recipe: d.str(), Path: d.str(),
			Line: int(d.int()), Column: int(d.int()), Message: d.str()}
	})
	if d.err != nil || len(d.s) != 0 {
		return nil, errBadCache
	}
	return r, nil
}

// len writes a list's length: 0 for nil, else the length plus one.
func (w *encoder) len(isNil bool, n int) {
	if isNil {
		w.uint(0)
		return
	}
	w.uint(uint64(n) + 1)
}

func (w *encoder) strs(l []string) {
	w.len(l == nil, len(l))
	for _, s := range l {
		w.str(s)
	}
}

func (w *encoder) names(l []PackageName) {
	w.len(l == nil, len(l))
	for _, p := range l {
		w.uint(uint64(p.Prefix))
		w.str(p.Name)
		w.str(p.Suffix)
	}
}

// len reads what encoder.len wrote: ok is false for nil. Each item takes
// at least min bytes, so that a damaged length allocates nothing large.
func (d *decoder) len(min uint64) (int, bool) {
	n := d.uint()
	if n == 0 || d.err != nil {
		return 0, false
	}
	if n-1 > uint64(len(d.s))/min {
		d.err = errShort
		return 0, false
	}
	return int(n - 1), true
}

// decodeList reads a list encoder.len began, of items at least min bytes
// long each, one item at a time: nil for nil.
func decodeList[T any](d *decoder, min uint64, one func() T) []T {
	n, ok := d.len(min)
	if !ok {
		return nil
	}
	out := make([]T, n)
	for i := range out {
		out[i] = one()
	}
	return out
}

func (d *decoder) strs() []string { return decodeList(d, 1, d.str) }

func (d *decoder) names() []PackageName {
	return decodeList(d, 3, func() PackageName {
		return PackageName{Prefix: Prefix(d.uint()), Name: d.str(), Suffix: d.str()}
	})
}
