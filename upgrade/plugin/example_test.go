package plugin_test

import (
	"context"
	"fmt"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
	"github.com/graftrt/graft/upgrade/plugin"
)

// Loading a version built after the service started and upgrading a
// running tree to it. (Not run: it needs the executable.)
func ExampleLoader_Load() {
	ctx := context.Background()
	sys := actor.NewSystem()
	defer sys.Shutdown(ctx)     // stops every plugin process too
	var tree *supervisor.Handle // the running service

	loader := plugin.NewLoader(plugin.WithCallTimeout(2 * time.Second))
	v3, err := loader.Load(ctx, sys, upgrade.Ref{
		Module: "visits", Version: "v3",
		Path:     "/srv/plugins/visits-v3",
		Checksum: "f2f1d297be5e62db644f6205caab0aa53e6b123b77af46361e8b5a31d27e0a7a", // from the build
	})
	if err != nil {
		fmt.Println(err) // ErrChecksum, ErrHandshake, ...: nothing changed
		return
	}
	rep, err := tree.Upgrade(ctx, upgrade.Plan{
		Mode: upgrade.Rolling, Waves: []float64{0.05, 1},
		Changes: []upgrade.Change{{Module: "visits", To: v3}},
	})
	fmt.Println(rep.Outcome, err)
}
