package plugin_test

import (
	"context"
	"errors"
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

// An error a plugin of module "bank" answers a call with keeps its
// identity on the host: the plugin registers its errors with codes
// (sdk.Module{Errors: bank.Errors}), and so does the host. (Not run: it
// needs the executable.)
func ExampleWithErrors() {
	// In package bank, imported by the plugin and by the host:
	var ErrInsufficient = errors.New("bank: insufficient funds")
	var Errors = map[string]error{"insufficient": ErrInsufficient}

	ctx := context.Background()
	sys := actor.NewSystem()
	defer sys.Shutdown(ctx)
	loader := plugin.NewLoader(plugin.WithErrors("bank", Errors))
	v, err := loader.Load(ctx, sys, upgrade.Ref{Module: "bank", Version: "v2",
		Path: "/srv/plugins/bank-v2", Checksum: "9c5e…"})
	if err != nil || sys.Load(v) != nil {
		return
	}
	account, _ := sys.Spawn("bank", 10)
	_, err = sys.Call(ctx, account, map[string]any{"Op": "withdraw", "Amount": 25})
	var re *plugin.ReplyError
	if errors.Is(err, ErrInsufficient) && errors.As(err, &re) {
		fmt.Println("refused:", re.Message, "code", re.Code)
	}
}
