package termtext

import "testing"

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain name":         "plain name",
		`quotes "' and \`:    `quotes "' and \`,
		"ünïcödé → ok":       "ünïcödé → ok",
		"\x1b[2J\x1b[Hclear": `\x1b[2J\x1b[Hclear`,
		"new\nline\ttab\r":   `new\nline\ttab\r`,
		"next\u0085line":     `next\u0085line`,
		"bad\xffbyte":        `bad\xffbyte`,
		"bidi\u202eevil":     `bidi\u202eevil`,
		"":                   "",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}
