package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/redox-cook/cook/fetch"
	"github.com/redox-cook/cook/initfs"
)

// TestMain lets the test binary play the cook command in script tests.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"cook": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
		// cook re-executes itself as wget and curl inside recipe scripts
		"wget": func() { os.Exit(fetch.ShimMain(os.Args, os.Stdout, os.Stderr)) },
		"curl": func() { os.Exit(fetch.ShimMain(os.Args, os.Stdout, os.Stderr)) },
		// and as redox-initfs-ar from a build's tools directory
		initfs.ToolName: func() { os.Exit(runInitfsTool()) },
	})
}

// TestScripts runs the CLI contract in testdata/script/*.txtar.
func TestScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("script tests build recipes")
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("COOK_JOBS", "2")
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Setenv("XDG_CACHE_HOME", env.WorkDir+"/cache")
			return nil
		},
	})
}
