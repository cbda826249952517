package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/redox-cook/cook/builder"
	"github.com/redox-cook/cook/cookbook"
)

// Clean removes what building left for each node — its build directory,
// stages, sysroots, packages, log and recorded state — so the next build
// runs again; with no nodes, every recipe's in the work directory. Fetched
// sources stay. It returns how many paths it removed. When ctx ends it
// stops before the next node, recording what it forgot so far.
func (p *Pipeline) Clean(ctx context.Context, nodes []cookbook.Node) (int, error) {
	w := p.cfg.Work
	if nodes == nil {
		entries, err := os.ReadDir(w.Recipes())
		if err != nil && !os.IsNotExist(err) {
			return 0, err
		}
		for _, e := range entries {
			nodes = append(nodes, cookbook.Node{Name: e.Name()})
		}
	}
	state := &builder.Builder{Work: w, Target: p.cfg.Target} // only its state records are used
	removed := 0
	for _, n := range nodes {
		if err := ctx.Err(); err != nil {
			return removed, errors.Join(err, state.Flush())
		}
		if err := state.Forget(n); err != nil {
			return removed, fmt.Errorf("clean %s: %w", n, err)
		}
		t := string(state.TargetOf(n))
		for _, path := range []string{w.Target(n.Name, t), w.Log(n.Name, t)} {
			if _, err := os.Lstat(path); err != nil {
				continue
			}
			if err := w.RemoveAll(path); err != nil {
				return removed, fmt.Errorf("clean %s: %w", n, err)
			}
			removed++
		}
	}
	return removed, state.Flush()
}
