package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redox-cook/cook/cache"
	"github.com/redox-cook/cook/pipeline"
	"github.com/redox-cook/cook/settings"
)

func init() { register(newCacheCmd) }

// cacheFlags are cook build's action-cache flags.
type cacheFlags struct {
	remote   string
	readOnly bool
	noCache  bool
}

func addCacheFlags(fl *pflag.FlagSet, c *cacheFlags) {
	fl.StringVar(&c.remote, "remote-cache", "", "share build results through a bazel-remote HTTP cache at URL, or a shared directory as file:///DIR (env COOK_REMOTE_CACHE; cook.toml [cache] remote; credentials from user:pass@ in the URL or COOK_CACHE_TOKEN)")
	fl.BoolVar(&c.readOnly, "remote-cache-read-only", false, "only read from the remote cache, never upload (cook.toml [cache] read_only)")
	fl.BoolVar(&c.noCache, "no-remote-cache", false, "do not use the remote cache, whatever cook.toml says")
}

// remoteCache is the remote action cache the flags, the environment and
// cook.toml ask for.
func (a *app) remoteCache(c cacheFlags) settings.RemoteCache {
	return a.resolved.RemoteCache(c.remote, c.readOnly, c.noCache)
}

func newCacheCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache stats|trim|verify",
		Short: "Inspect, trim and check the work directory's action cache",
		Long: `cache looks after <work>/cache, the work directory's copy of the action cache
(build results by action key, shared with other machines through --remote-cache;
see docs/cache.md).`,
	}
	cmd.AddCommand(newCacheStatsCmd(a), newCacheTrimCmd(a), newCacheVerifyCmd(a))
	return cmd
}

func newCacheStatsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Count the action entries and blobs in the local cache",
		Args:  rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := a.localCache()
			if err != nil {
				return err
			}
			s, err := l.Stats()
			if err != nil {
				return failed(err)
			}
			if a.json {
				return a.printJSON(map[string]any{"dir": l.Dir, "stats": s})
			}
			fmt.Fprintf(a.stdout, "%s: %d action entries (%s), %d blobs (%s), %s in all\n", l.Dir,
				s.ActionEntries, settings.Size(s.ActionBytes), s.Blobs, settings.Size(s.BlobBytes), settings.Size(s.ActionBytes+s.BlobBytes))
			return nil
		},
	}
}

func newCacheTrimCmd(a *app) *cobra.Command {
	var maxSize string
	trim := &cobra.Command{
		Use:   "trim --max-size SIZE",
		Short: "Remove the least recently used entries until the cache fits SIZE",
		Args:  rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("max-size") {
				return usageErr(fmt.Errorf("cook cache trim needs --max-size SIZE (0 empties the cache)"))
			}
			limit, err := settings.ParseSize(maxSize)
			if err != nil {
				return usageErr(fmt.Errorf("--max-size: %w", err))
			}
			_, unlock, err := a.writeWork(cmd.Context())
			if err != nil {
				return err
			}
			defer unlock()
			l, err := a.localCache()
			if err != nil {
				return err
			}
			n, freed, err := l.Trim(int64(limit))
			if err != nil {
				return failed(err)
			}
			if a.json {
				return a.printJSON(map[string]any{"removed": n, "freed_bytes": freed})
			}
			fmt.Fprintf(a.stdout, "removed %d files, %s\n", n, settings.Size(freed))
			return nil
		},
	}
	trim.Flags().StringVar(&maxSize, "max-size", "", "size to trim to: bytes or with K, M, G (0 empties the cache)")
	return trim
}

func newCacheVerifyCmd(a *app) *cobra.Command {
	var fix bool
	verify := &cobra.Command{
		Use:   "verify [--fix]",
		Short: "Rehash every blob and check every action entry; exit 1 if anything is wrong",
		Args:  rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if fix {
				_, unlock, err := a.writeWork(cmd.Context())
				if err != nil {
					return err
				}
				defer unlock()
			}
			l, err := a.localCache()
			if err != nil {
				return err
			}
			probs, err := l.Verify(cmd.Context(), fix)
			if err != nil {
				return failed(err)
			}
			if a.json {
				if err := a.printJSON(map[string]any{"problems": probs, "fixed": fix}); err != nil {
					return err
				}
			} else {
				for _, p := range probs {
					fmt.Fprintf(a.stdout, "%s/%s: %s\n", p.Kind, p.Hash, p.What)
				}
				if len(probs) == 0 {
					fmt.Fprintln(a.stdout, "the cache is sound")
				} else if fix {
					fmt.Fprintf(a.stdout, "removed %d damaged entries\n", len(probs))
				}
			}
			if len(probs) > 0 && !fix {
				return failed(errSilent)
			}
			return nil
		},
	}
	verify.Flags().BoolVar(&fix, "fix", false, "remove what is wrong")
	return verify
}

func (a *app) localCache() (*cache.Local, error) {
	root, err := a.workDir()
	if err != nil {
		return nil, err
	}
	return cache.NewLocal(pipeline.LocalCacheDir(root)), nil
}
