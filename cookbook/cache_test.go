package cookbook

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sameTree fails unless a and b hold the same recipes (every field) and
// diagnostics.
func sameTree(t *testing.T, what string, a, b *Tree) {
	t.Helper()
	if !reflect.DeepEqual(a.Names, b.Names) || !reflect.DeepEqual(a.Legacy, b.Legacy) ||
		!reflect.DeepEqual(a.Diagnostics, b.Diagnostics) {
		t.Fatalf("%s: names, legacy or tree diagnostics differ", what)
	}
	for _, n := range a.Names {
		if !reflect.DeepEqual(a.Recipes[n], b.Recipes[n]) {
			t.Fatalf("%s: recipe %s differs:\n%#v\n%#v", what, n, a.Recipes[n], b.Recipes[n])
		}
	}
	if !reflect.DeepEqual(a.AllDiagnostics(true), b.AllDiagnostics(true)) {
		t.Fatalf("%s: diagnostics differ", what)
	}
}

// cacheTrees are the trees the cache tests load: the schema cases, the
// older cookbook's shape, and the upstream corpus when there is one.
func cacheTrees(t *testing.T) []string {
	dir := t.TempDir()
	cases, _ := filepath.Glob(filepath.Join("testdata", "schema", "*.toml"))
	for _, c := range cases {
		data, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(c), ".toml")
		write(t, filepath.Join(dir, "recipes", "schema", name, "recipe.toml"), string(data))
	}
	trees := []string{dir, "testdata/oldtree"}
	if shared := os.Getenv("COOK_SHARED"); shared != "" {
		trees = append(trees, filepath.Join(shared, "corpus", "redox"))
	}
	return trees
}

// TestParseCacheSameTree loads trees without the cache, with a cold one and
// with a warm one (twice: once racy, once trusted by identity), and wants
// the same tree every time.
func TestParseCacheSameTree(t *testing.T) {
	ctx := context.Background()
	for _, root := range cacheTrees(t) {
		plain, err := Load(ctx, root)
		if err != nil {
			t.Fatal(err)
		}
		cache := filepath.Join(t.TempDir(), "parse.cache")
		for i, what := range []string{"cold", "warm", "warm, all trusted"} {
			if i == 2 {
				ageAll(t, cache)
			}
			tree, err := Load(ctx, root, WithParseCache(cache))
			if err != nil {
				t.Fatal(err)
			}
			sameTree(t, root+": "+what+" cache", plain, tree)
		}
	}
}

// ageAll marks every entry of the cache at path as trusted by identity,
// as a load after racyWindow would.
func ageAll(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := decodeCache(data, exeIdentity())
	if err != nil {
		t.Fatal(err)
	}
	for k, e := range entries {
		e.racy = false
		entries[k] = e
	}
	if err := os.WriteFile(path, encodeCache(entries, exeIdentity()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// load loads root with the cache at cache and returns name's recipe.
func loadRecipe(t *testing.T, root, cache, name string) *Recipe {
	t.Helper()
	tree, err := Load(context.Background(), root, WithParseCache(cache))
	if err != nil {
		t.Fatal(err)
	}
	return tree.Recipes[name]
}

// TestParseCacheSeesEdits edits a recipe within the same second, keeping
// its size and putting its modification time back, and wants the edit
// seen, as it is seen after a longer while, and a new and a removed recipe.
func TestParseCacheSeesEdits(t *testing.T) {
	root := t.TempDir()
	cache := filepath.Join(t.TempDir(), "parse.cache")
	p := filepath.Join(root, "recipes", "a", "recipe.toml")
	write(t, p, "[build]\ntemplate = \"cmake\"\n")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if r := loadRecipe(t, root, cache, "a"); r.Build.Template != TemplateCMake {
		t.Fatalf("template %q", r.Build.Template)
	}
	write(t, p, "[build]\ntemplate = \"meson\"\n")
	if err := os.Chtimes(p, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if r := loadRecipe(t, root, cache, "a"); r.Build.Template != TemplateMeson {
		t.Fatalf("an edit of the same size in the same second: template %q, want meson", r.Build.Template)
	}
	write(t, filepath.Join(root, "recipes", "b", "recipe.toml"), "")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	tree, err := Load(context.Background(), root, WithParseCache(cache))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tree.Names, " ") != "b" {
		t.Errorf("names %v, want b", tree.Names)
	}
	data, _ := os.ReadFile(cache)
	if entries, err := decodeCache(data, exeIdentity()); err != nil || len(entries) != 1 {
		t.Errorf("cache entries %v (%v), want b's alone", entries, err)
	}
}

// TestParseCacheRacyEntry makes the case the racy rule is for: a file
// whose identity is the recorded one but whose contents are not (changed
// within one tick of the clock after it was read). A racy entry is checked
// against the contents and not used; a trusted one is used, which is why
// entries are trusted only for files older than racyWindow.
func TestParseCacheRacyEntry(t *testing.T) {
	root := t.TempDir()
	cache := filepath.Join(t.TempDir(), "parse.cache")
	p := filepath.Join(root, "recipes", "a", "recipe.toml")
	write(t, p, "[build]\ntemplate = \"cmake\"\n")
	loadRecipe(t, root, cache, "a")
	write(t, p, "[build]\ntemplate = \"meson\"\n")
	// the cache's entry gets the file's new identity, as if the edit had
	// come in the same tick as the read
	restamp := func(racy bool) {
		data, _ := os.ReadFile(cache)
		entries, err := decodeCache(data, exeIdentity())
		if err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		e := entries["recipes/a/recipe.toml"]
		e.id, e.racy = idOf(&st), racy
		entries["recipes/a/recipe.toml"] = e
		if err := os.WriteFile(cache, encodeCache(entries, exeIdentity()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	restamp(true)
	if r := loadRecipe(t, root, cache, "a"); r.Build.Template != TemplateMeson {
		t.Errorf("racy entry: template %q, want meson (the file's)", r.Build.Template)
	}
	// the load above replaced the entry; make the stale one again
	write(t, p, "[build]\ntemplate = \"cmake\"\n")
	loadRecipe(t, root, cache, "a")
	write(t, p, "[build]\ntemplate = \"meson\"\n")
	restamp(false)
	if r := loadRecipe(t, root, cache, "a"); r.Build.Template != TemplateCMake {
		t.Errorf("trusted entry: template %q, want cmake (the entry's, by identity)", r.Build.Template)
	}
}

// TestParseCacheRacyWindow checks which files are racy: changed at or
// after the cutoff, by modification or change time.
func TestParseCacheRacyWindow(t *testing.T) {
	now := time.Now()
	c := openParseCache(filepath.Join(t.TempDir(), "x"))
	if got := time.Unix(0, c.cutoff); now.Sub(got) < racyWindow-time.Second || now.Sub(got) > racyWindow+time.Second {
		t.Errorf("cutoff %v before now, want about %v", now.Sub(got), racyWindow)
	}
	old := now.Add(-time.Hour).UnixNano()
	for _, tc := range []struct {
		id   fileID
		racy bool
	}{
		{fileID{mtime: old, ctime: old}, false},
		{fileID{mtime: c.cutoff, ctime: old}, true},
		{fileID{mtime: old, ctime: c.cutoff + 1}, true},
		{fileID{mtime: c.cutoff - 1, ctime: c.cutoff - 1}, false},
	} {
		if got := tc.id.racy(c.cutoff); got != tc.racy {
			t.Errorf("%+v: racy %v", tc.id, got)
		}
	}
}

// TestParseCacheDamaged: a cache file cut short, changed, of another
// program or not one at all is ignored and rewritten.
func TestParseCacheDamaged(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "recipes", "a", "recipe.toml"), "[build]\ntemplate = \"cmake\"\n")
	plain, err := Load(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "parse.cache")
	loadRecipe(t, root, cache, "a")
	good, err := os.ReadFile(cache)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 1
	other := encodeCacheFor(t, good, "another cook")
	for what, data := range map[string][]byte{
		"empty": nil, "cut short": good[:len(good)/2], "changed": flipped, "another program's": other,
		"not a cache": []byte("[build]\n"),
	} {
		if err := os.WriteFile(cache, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tree, err := Load(context.Background(), root, WithParseCache(cache))
		if err != nil {
			t.Fatal(err)
		}
		sameTree(t, what, plain, tree)
		if now, _ := os.ReadFile(cache); string(now) != string(good) {
			t.Errorf("%s: the cache was not rewritten", what)
		}
	}
}

// encodeCacheFor re-encodes the cache file data as the program exe's.
func encodeCacheFor(t *testing.T, data []byte, exe string) []byte {
	entries, err := decodeCache(data, exeIdentity())
	if err != nil {
		t.Fatal(err)
	}
	return encodeCache(entries, exe)
}

// TestParseCacheConcurrent loads a tree from several goroutines sharing one
// cache file while a recipe changes: every load is right, and the file is
// a whole cache after.
func TestParseCacheConcurrent(t *testing.T) {
	root := t.TempDir()
	recipe := func(i int, version string) {
		write(t, filepath.Join(root, "recipes", fmt.Sprintf("r%02d", i), "recipe.toml"), "[package]\nversion = \""+version+"\"\n")
	}
	for i := range 40 {
		recipe(i, strconv.Itoa(i))
	}
	cache := filepath.Join(t.TempDir(), "parse.cache")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() { // r00 changes between "0" and "100" meanwhile
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			recipe(0, strconv.Itoa(i%2*100))
		}
	}()
	errs := make(chan error, 100)
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				tree, err := Load(context.Background(), root, WithParseCache(cache))
				if err != nil {
					errs <- err
					return
				}
				for _, n := range tree.Names {
					v := tree.Recipes[n].Package.Version
					if i, _ := strconv.Atoi(v); fmt.Sprintf("r%02d", i%100) != n || (i == 100 && n != "r00") {
						errs <- fmt.Errorf("goroutine %d: %s has version %q", g, n, v)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	data, _ := os.ReadFile(cache)
	if entries, err := decodeCache(data, exeIdentity()); err != nil || len(entries) != 40 {
		t.Errorf("cache after: %d entries, %v", len(entries), err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(cache), ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestRecipeCodecCoversEveryField fills every field of a Recipe (every
// string, number, list and pointer, nested) and round-trips it through the
// cache's encoding: a field added to Recipe but not to the encoding fails
// here.
func TestRecipeCodecCoversEveryField(t *testing.T) {
	r := &Recipe{}
	n := 0
	fill(reflect.ValueOf(r).Elem(), &n)
	// Load's own fields, not the parser's: derived from the file's place
	r.Others = nil
	got, err := decodeRecipe(encodeRecipe(r), r.Name, r.Dir, r.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, got) {
		t.Errorf("round trip changed the recipe:\n%#v\n%#v", r, got)
	}
	// nil and empty lists stay apart
	empty := &Recipe{Build: Build{Dependencies: []PackageName{}, CargoFlags: []string{}}, OptionalPackages: []OptionalPackage{}, Diagnostics: []Diagnostic{}}
	got, err = decodeRecipe(encodeRecipe(empty), "", "", "")
	if err != nil || !reflect.DeepEqual(empty, got) {
		t.Errorf("empty lists: %#v, %v", got, err)
	}
}

// fill sets every settable field under v to a distinct non-zero value.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(*n))
	case reflect.Uint8, reflect.Uint, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n%2 + 1))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), n)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	default:
		panic("fill: " + v.Kind().String())
	}
}

// FuzzParseCache decodes arbitrary bytes as a cache file and a recipe
// encoding: never a panic, never a large allocation.
func FuzzParseCache(f *testing.F) {
	r := Parse("a", "/a", "recipes/a/recipe.toml", []byte("[source]\ntar = \"x\"\n[build]\ntemplate = \"custom\"\nscript = \"s\"\ndependencies = [\"b\", \"host:c.d\"]\n[[optional-packages]]\nname = \"x\"\nfiles = [\"a\"]\n"))
	enc := encodeRecipe(r)
	f.Add([]byte(enc), false)
	f.Add(encodeCache(map[string]cacheEntry{"recipes/a/recipe.toml": {recipe: enc, digest: r.Digest}}, exeIdentity()), true)
	f.Fuzz(func(t *testing.T, data []byte, whole bool) {
		if whole {
			entries, err := decodeCache(data, exeIdentity())
			if err == nil {
				for k, e := range entries {
					decodeRecipe(e.recipe, "a", "/a", k)
				}
			}
			return
		}
		decodeRecipe(string(data), "a", "/a", "recipes/a/recipe.toml")
	})
}

// TestParseCacheHostileFile: a parse cache that is a FIFO, a link to a
// device or a huge file is ignored — the load neither blocks, nor reads
// forever, nor reads it whole — and the tree is the same.
func TestParseCacheHostileFile(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "recipes", "a", "recipe.toml"), "[build]\ntemplate = \"cmake\"\n")
	plain, err := Load(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, what := range []string{"fifo", "device", "huge"} {
		t.Run(what, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "parse.cache")
			switch what {
			case "fifo":
				if err := syscall.Mkfifo(cache, 0o644); err != nil {
					t.Skip(err)
				}
			case "device":
				if err := os.Symlink("/dev/zero", cache); err != nil {
					t.Fatal(err)
				}
			case "huge":
				write(t, cache, cacheMagic)
				if err := os.Truncate(cache, 256<<20); err != nil { // sparse
					t.Fatal(err)
				}
			}
			type result struct {
				tree  *Tree
				err   error
				alloc uint64
			}
			done := make(chan result, 1)
			go func() {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				tree, err := Load(context.Background(), root, WithParseCache(cache))
				runtime.ReadMemStats(&after)
				done <- result{tree, err, after.TotalAlloc - before.TotalAlloc}
			}()
			select {
			case r := <-done:
				if r.err != nil {
					t.Fatal(r.err)
				}
				sameTree(t, what, plain, r.tree)
				if r.alloc > 64<<20 {
					t.Errorf("the load allocated %d bytes", r.alloc)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the load did not end")
			}
		})
	}
}
