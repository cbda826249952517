// Package config holds the filesystem configs compiled into cook, in upstream's installer format, that cook image uses when the cookbook has none of its own.
package config

import "embed"

// FS holds the configs, in upstream's installer format (see
// docs/images.md): base.toml (included by the others), minimal.toml (a
// console system) and x86_64/cloud-hypervisor.toml (the minimal system with
// a static address on Cloud Hypervisor's TAP network). cook image looks a
// config name up as upstream's make does: <arch>/<name>.toml first, then
// <name>.toml.
//
//go:embed *.toml x86_64/*.toml
var FS embed.FS
