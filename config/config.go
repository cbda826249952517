// Package config holds the filesystem configs cook ships, in upstream's
// installer format (see docs/images.md): base.toml (included by the
// others), minimal.toml (a console system) and x86_64/cloud-hypervisor.toml
// (the minimal system with a static address on Cloud Hypervisor's TAP
// network). cook image looks a config name up as upstream's make does:
// <arch>/<name>.toml first, then <name>.toml.
package config

import "embed"

// FS holds the configs, at the paths above.
//
//go:embed *.toml x86_64/*.toml
var FS embed.FS
