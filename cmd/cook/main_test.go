package main

import (
	"bytes"
	"os"
	"testing"
)

// cook runs the CLI in-process and returns its output and exit status.
func cook(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return out.String(), errb.String(), code
}

// sharedDir returns $COOK_SHARED or skips.
func sharedDir(t *testing.T) string {
	t.Helper()
	s := os.Getenv("COOK_SHARED")
	if s == "" {
		t.Skip("COOK_SHARED is not set")
	}
	return s
}
