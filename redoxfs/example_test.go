package redoxfs_test

import (
	"context"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/redox-cook/cook/redoxfs"
)

func Example() {
	tree := redoxfs.NewTree()
	for _, e := range []redoxfs.Entry{
		{Path: "etc/hostname", Mode: 0o644, Open: redoxfs.BytesOpener([]byte("redox\n"))},
		{Path: "usr/bin", Mode: fs.ModeDir | 0o755},
		{Path: "bin", Mode: fs.ModeSymlink | 0o777, Target: "usr/bin"},
		{Path: "home/user", Mode: fs.ModeDir | 0o700, UID: 1000, GID: 1000},
	} {
		if err := tree.Add(e); err != nil {
			log.Fatal(err)
		}
	}

	dir, err := os.MkdirTemp("", "redoxfs-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	img, err := os.Create(filepath.Join(dir, "disk.img"))
	if err != nil {
		log.Fatal(err)
	}
	defer img.Close()

	// A 16 MiB filesystem starting 2 MiB into the image, as in a partitioned disk.
	opt := redoxfs.Options{
		Offset: 2 << 20,
		Size:   16 << 20,
		UUID:   [16]byte{0xde, 0xad, 0xbe, 0xef},
		Time:   time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC),
	}
	if _, err := redoxfs.Build(context.Background(), img, tree, opt); err != nil {
		log.Fatal(err)
	}

	fsys, err := redoxfs.Open(img, 2<<20)
	if err != nil {
		log.Fatal(err)
	}
	b, err := fs.ReadFile(fsys, "etc/hostname")
	if err != nil {
		log.Fatal(err)
	}
	target, _ := fsys.ReadLink("bin")
	fi, _ := fsys.Stat("home/user")
	st := fi.Sys().(*redoxfs.Stat)
	fmt.Printf("%s", b)
	fmt.Println(target, fi.Mode(), st.UID, fsys.Info().UUIDString())
	// Output:
	// redox
	// usr/bin drwx------ 1000 deadbeef-0000-0000-0000-000000000000
}
