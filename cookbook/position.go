package cookbook

import (
	"strconv"
	"strings"
)

// keyIndex maps TOML key paths to the line and column where they are defined.
// It is a light line scanner, not a parser: it understands table headers,
// arrays of tables, bare, quoted and dotted keys, and skips multi-line strings,
// which is all recipe files use. It runs only when a diagnostic needs a place.
type keyIndex map[string][2]int

// indexKeys scans text. Keys are joined with '.', and entries of an array of
// tables carry their index: "optional-packages.1.files".
func indexKeys(text string) keyIndex {
	idx := keyIndex{}
	var table string
	arrays := map[string]int{}
	inString := "" // the delimiter of the multi-line string being skipped
	for i, line := range strings.Split(text, "\n") {
		lineNo := i + 1
		if inString != "" {
			if strings.Count(line, inString)%2 == 1 {
				inString = ""
			}
			continue
		}
		trimmed := strings.TrimLeft(line, " \t")
		col := len(line) - len(trimmed) + 1
		switch {
		case strings.HasPrefix(trimmed, "[["):
			name := keyPath(strings.TrimSpace(strings.TrimPrefix(before(trimmed, "]]"), "[[")))
			n := arrays[name]
			arrays[name] = n + 1
			table = name + "." + strconv.Itoa(n)
			idx.set(table, lineNo, col)
			continue
		case strings.HasPrefix(trimmed, "["):
			table = keyPath(strings.TrimSpace(strings.TrimPrefix(before(trimmed, "]"), "[")))
			idx.set(table, lineNo, col)
			continue
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		}
		key, rest, ok := splitKey(trimmed)
		if !ok {
			continue
		}
		full := key
		if table != "" {
			full = table + "." + key
		}
		idx.set(full, lineNo, col)
		for _, d := range []string{`"""`, `'''`} {
			if strings.Count(rest, d)%2 == 1 {
				inString = d
				break
			}
		}
	}
	return idx
}

func (k keyIndex) set(key string, line, col int) {
	if _, ok := k[key]; !ok {
		k[key] = [2]int{line, col}
	}
}

// at returns the position of the first of keys that is defined.
func (k keyIndex) at(keys ...string) (line, col int) {
	for _, key := range keys {
		if p, ok := k[key]; ok {
			return p[0], p[1]
		}
	}
	return 0, 0
}

func before(s, sep string) string {
	if i := strings.Index(s, sep); i >= 0 {
		return s[:i]
	}
	return s
}

// splitKey splits `key = value` and normalises the key.
func splitKey(line string) (key, rest string, ok bool) {
	i := 0
	for i < len(line) && line[i] != '=' {
		switch line[i] {
		case '"', '\'':
			j := strings.IndexByte(line[i+1:], line[i])
			if j < 0 {
				return "", "", false
			}
			i += j + 2
			continue
		case ',', '[', ']', '{', '}':
			return "", "", false
		}
		i++
	}
	if i >= len(line) {
		return "", "", false
	}
	return keyPath(strings.TrimSpace(line[:i])), line[i+1:], true
}

// keyPath normalises a dotted, possibly quoted key to plain dot-joined parts.
func keyPath(k string) string {
	if !strings.ContainsAny(k, `"'`) && !strings.Contains(k, " ") {
		return k
	}
	var parts []string
	for _, p := range strings.Split(k, ".") {
		p = strings.TrimSpace(p)
		p = strings.Trim(p, `"'`)
		parts = append(parts, p)
	}
	return strings.Join(parts, ".")
}
