package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/redox-cook/cook/image"
	"github.com/redox-cook/cook/pkgar"
	"github.com/redox-cook/cook/repo"
)

// ErrNothingBuilt is wrapped by Image's error when the config names
// packages but nothing was ever built in the work directory.
var ErrNothingBuilt = errors.New("no packages built")

// Publish copies what is built of names into the work directory's
// repository for the target, verifying each package against its stage and
// the work directory's key.
func (p *Pipeline) Publish(ctx context.Context, names []string) (*repo.PublishResult, error) {
	return repo.Publish(ctx, p.cfg.Work, string(p.cfg.Target), names)
}

// Image assembles the disk image cfg describes at out. It first publishes
// what is built of the config's packages, as upstream's repo cook does
// after building, so the image takes current packages; then it installs
// them from the work directory's repository with their runtime
// dependencies. opts add to the target and the repository.
func (p *Pipeline) Image(ctx context.Context, cfg *image.Config, out string, opts ...image.Option) (*image.Result, error) {
	w, target := p.cfg.Work, string(p.cfg.Target)
	keyFile := filepath.Join(w.Keys(), pkgar.PublicKeyFile)
	_, keyErr := os.Stat(keyFile)
	if names := cfg.PackageNames(); len(names) > 0 && keyErr == nil {
		pub, err := p.Publish(ctx, names)
		switch {
		case err == nil && len(pub.Published) > 0:
			p.cfg.Log.Info("published packages", "repo", pub.Dir, "packages", strings.Join(pub.Published, " "))
		case err != nil && !errors.Is(err, repo.ErrNothingToPublish):
			return nil, fmt.Errorf("publish: %w", err)
		}
	}
	all := []image.Option{image.WithTarget(p.cfg.Target)}
	switch {
	case keyErr == nil:
		r, err := image.OpenRepo(w.Repo(target), keyFile)
		if err != nil {
			return nil, err
		}
		all = append(all, image.WithPackages(r))
	case errors.Is(keyErr, fs.ErrNotExist) && len(cfg.PackageNames()) > 0:
		return nil, fmt.Errorf("%w in %s yet (no signing key in %s): build the config's packages first, for example `cook build %s`",
			ErrNothingBuilt, w.Root, w.Keys(), strings.Join(cfg.PackageNames(), " "))
	}
	return image.Assemble(ctx, cfg, out, append(all, opts...)...)
}
