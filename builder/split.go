package builder

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/redox-cook/cook/cookbook"
)

// glob compiles an [[optional-packages]] files pattern with globset's default
// semantics, which upstream uses: '*' and '?' match '/' too, '**' matches
// anything, [...] is a class and {a,b} an alternation.
func glob(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	inAlt := 0
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch c {
		case '*':
			b.WriteString(".*")
			for i+1 < len(pattern) && pattern[i+1] == '*' {
				i++
			}
		case '?':
			b.WriteString(".")
		case '[':
			j := strings.IndexByte(pattern[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("glob %q: unclosed [", pattern)
			}
			class := pattern[i+1 : i+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += j
		case '{':
			inAlt++
			b.WriteString("(?:")
		case '}':
			if inAlt == 0 {
				b.WriteString(`\}`)
				continue
			}
			inAlt--
			b.WriteString(")")
		case ',':
			if inAlt > 0 {
				b.WriteString("|")
			} else {
				b.WriteString(",")
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	if inAlt > 0 {
		return nil, fmt.Errorf("glob %q: unclosed {", pattern)
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// splitOptional moves every file and symlink of stage that matches an
// optional package's globs into that package's stage (the first match wins),
// leaving the rest as the main package. stageOf names each optional stage.
func splitOptional(stage string, opts []cookbook.OptionalPackage, stageOf func(opt string) string) error {
	type matcher struct {
		name string
		res  []*regexp.Regexp
	}
	var ms []matcher
	for _, o := range opts {
		m := matcher{name: o.Name}
		for _, f := range o.Files {
			re, err := glob(f)
			if err != nil {
				return fmt.Errorf("optional package %s: %w", o.Name, err)
			}
			m.res = append(m.res, re)
		}
		ms = append(ms, m)
		if err := os.RemoveAll(stageOf(o.Name)); err != nil {
			return err
		}
		if err := os.MkdirAll(stageOf(o.Name), 0o755); err != nil {
			return err
		}
	}
	type move struct{ from, to string }
	var moves []move
	err := filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(stage, p)
		rel = filepath.ToSlash(rel)
		for _, m := range ms {
			for _, re := range m.res {
				if re.MatchString(rel) {
					moves = append(moves, move{p, filepath.Join(stageOf(m.name), rel)})
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, mv := range moves {
		if err := os.MkdirAll(filepath.Dir(mv.to), 0o755); err != nil {
			return err
		}
		if err := os.Rename(mv.from, mv.to); err != nil {
			return err
		}
	}
	return nil
}
