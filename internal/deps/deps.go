package deps

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/diskfs/go-diskfs"
	_ "github.com/go-git/go-git/v5"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/mholt/archives"
	_ "github.com/pierrec/lz4/v4"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/spf13/cobra"
	_ "github.com/ulikunitz/xz"
	_ "github.com/zeebo/blake3"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/sys/unix"
)
