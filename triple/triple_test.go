package triple

import (
	"strings"
	"testing"
)

func TestTriples(t *testing.T) {
	for _, tc := range []struct {
		in, gnu, under string
		redox          bool
	}{
		{"x86_64-unknown-redox", "x86_64-unknown-redox", "x86_64_unknown_redox", true},
		{"riscv64gc-unknown-redox", "riscv64-unknown-redox", "riscv64gc_unknown_redox", true},
		{"i586-unknown-redox", "i586-unknown-redox", "i586_unknown_redox", true},
		{"aarch64-unknown-linux-gnu", "aarch64-linux-gnu", "aarch64_unknown_linux_gnu", false},
		{"x86_64-unknown-linux-gnu", "x86_64-linux-gnu", "x86_64_unknown_linux_gnu", false},
	} {
		tr, err := Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if tr.GNU() != tc.gnu || tr.Underscored() != tc.under || tr.IsRedox() != tc.redox {
			t.Errorf("%s: gnu %s under %s redox %v", tc.in, tr.GNU(), tr.Underscored(), tr.IsRedox())
		}
	}
	if _, err := Parse("sparc-sun-solaris"); err == nil || !strings.Contains(err.Error(), "aarch64-unknown-linux-gnu") {
		t.Errorf("Parse(sparc) = %v", err)
	}
	// A triple names directories of the work directory: nothing that could
	// be a path, or a field no Linux target has, passes.
	for _, bad := range []string{
		"x-x-linux-x/../../../../..", "x86_64-unknown-linux-gnu/..", "../x86_64-unknown-linux-gnu",
		"x86_64-unknown-linux-gnu/../../etc", "x86_64-../..-linux-gnu", "x86_64-unknown-linux-", "x86_64--linux-gnu",
		"x86_64-unknown-linux-gnu\n", "X86_64-unknown-linux-gnu", "sparc-unknown-linux-gnu", "x86_64-unknown-linux-evil",
		"", ".", "..",
	} {
		if tr, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %q, want an error", bad, tr)
		}
	}
}
