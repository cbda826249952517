package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/workdir"
)

func init() { register(newPkgarCmd) }

type pkgarVerifyJSON struct {
	File     string `json:"file"`
	OK       bool   `json:"ok"`
	HeadOnly bool   `json:"head_only,omitempty"` // a .pkgar_head: no data to check
	Entries  int    `json:"entries"`
	Blake3   string `json:"blake3,omitempty"`
	Error    string `json:"error,omitempty"`
}

// pkgarFile opens the FILE argument of the cook pkgar commands, trusting
// --key (or the work directory's key).
type pkgarFile struct {
	a   *app
	key string
}

func (o *pkgarFile) open(file string) (*pkgar.File, error) {
	key, err := o.a.trustedKey(o.key)
	if err != nil {
		return nil, err
	}
	f, err := pkgar.Open(file, key)
	if err != nil {
		return nil, failed(err)
	}
	return f, nil
}

func newPkgarCmd(a *app) *cobra.Command {
	o := &pkgarFile{a: a}
	cmd := &cobra.Command{
		Use:   "pkgar",
		Short: "Inspect, verify and extract pkgar packages",
		Long: `Inspect, verify and extract signed pkgar packages (and .pkgar_head files).

Every subcommand checks the package's signature against a trusted public key:
--key FILE (an id_ed25519.pub.toml), by default the work directory's key
(<work>/keys/id_ed25519.pub.toml), which signs every package cook builds.`,
	}
	cmd.PersistentFlags().StringVar(&o.key, "key", "", "trusted public key file (id_ed25519.pub.toml; default: the work directory's)")

	cmd.AddCommand(o.listCmd(), o.verifyCmd(), o.extractCmd())
	return cmd
}

func (o *pkgarFile) listCmd() *cobra.Command {
	a := o.a
	return &cobra.Command{
		Use:   "list FILE",
		Short: "List a package's entries (mode, size, BLAKE3, path)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := o.open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			l, err := f.List(args[0])
			if err != nil {
				return failed(err)
			}
			return a.output(l)
		},
	}
}

func (o *pkgarFile) verifyCmd() *cobra.Command {
	a := o.a
	return &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a package's signature, entry table and every entry's data",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res := pkgarVerifyJSON{File: args[0]}
			f, err := o.open(args[0])
			if err == nil {
				res.Entries = len(f.Entries)
				res.Blake3 = f.Header.Blake3.String()
				err = f.Verify(cmd.Context())
				f.Close()
				if errors.Is(err, pkgar.ErrHeadOnly) && strings.HasSuffix(args[0], ".pkgar_head") {
					res.HeadOnly, err = true, nil
				}
				if err != nil {
					err = failed(err)
				}
			}
			if err != nil {
				var ee *exitError
				if !a.json || (errors.As(err, &ee) && ee.code == exitUsage) {
					return err
				}
				res.Error = err.Error()
				if perr := a.printJSON(res); perr != nil {
					return perr
				}
				return failed(errSilent)
			}
			res.OK = true
			if a.json {
				return a.printJSON(res)
			}
			if res.HeadOnly {
				a.printf("%s: head only, signature and entry table ok (%d entries, blake3 %s)\n", args[0], res.Entries, res.Blake3)
				return nil
			}
			a.printf("%s: ok (%d entries, blake3 %s)\n", args[0], res.Entries, res.Blake3)
			return nil
		},
	}
}

func (o *pkgarFile) extractCmd() *cobra.Command {
	a := o.a
	return &cobra.Command{
		Use:   "extract FILE DIR",
		Short: "Extract a package into DIR after verifying it",
		Long: `Extract a package into DIR. Nothing is written unless every entry verifies; paths
that are absolute or contain ".." are refused, and existing symlinks in DIR are
resolved as if DIR were the root, so nothing is written outside DIR.`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := o.open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			if err := f.Extract(cmd.Context(), args[1]); err != nil {
				return failed(err)
			}
			if a.json {
				return a.printJSON(map[string]any{"file": args[0], "dir": args[1], "entries": len(f.Entries)})
			}
			if !a.quiet {
				a.printf("%s: extracted %d entries into %s\n", args[0], len(f.Entries), args[1])
			}
			return nil
		},
	}
}

// trustedKey loads --key, or the work directory's public key.
func (a *app) trustedKey(flag string) (pkgar.PublicKey, error) {
	path := flag
	if path == "" {
		root, err := a.workDir()
		if err != nil {
			return pkgar.PublicKey{}, err
		}
		path = filepath.Join(workdir.New(root).Keys(), pkgar.PublicKeyFile)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return pkgar.PublicKey{}, usageErr(fmt.Errorf("no public key at %s (cook creates it when it first packages a recipe); pass --key FILE", path))
		}
	}
	k, err := pkgar.LoadPublicKey(path)
	if err != nil {
		return k, usageErr(fmt.Errorf("--key: %w", err))
	}
	return k, nil
}
