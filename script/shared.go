package script

import _ "embed"

//go:embed shared.sh
var sharedPrescript string

// GNUConfigURL is the config.sub URL GNU_CONFIG_GET downloads.
const GNUConfigURL = "https://gitlab.redox-os.org/redox-os/gnu-config/-/raw/master/config.sub?inline=false"

// SharedPrescript is upstream's SHARED_PRESCRIPT, unchanged: the shell
// functions a source script (and, after BuildPrescript, a build script) may
// call: DYNAMIC_INIT, DYNAMIC_STATIC_INIT, autotools_recursive_regenerate and
// GNU_CONFIG_GET (spec/cookbook.md §5.6).
func SharedPrescript() string { return sharedPrescript }

// SourceScript returns the text a source script runs as, on bash's stdin with
// -ex: the shared prescript, a newline, then the recipe's script, as upstream
// joins them.
func SourceScript(script string) string { return sharedPrescript + "\n" + script }
