// Command chaosmod is v3 of the chaos suite's module "chaosmod", served
// out of process: it counts messages and does what the chaos toolkit's
// fault messages and migration extras ask.
package main

import (
	"github.com/graftrt/graft/chaos/fault"
	"github.com/graftrt/graft/upgrade/plugin/codec"
	"github.com/graftrt/graft/upgrade/plugin/sdk"
)

// State is every version's state shape.
type State struct{ N int }

func main() {
	sdk.Serve(sdk.Module[State, fault.Msg]{
		// v3 follows v2, and migrates from and returns to v1 directly.
		Name: "chaosmod", Version: "v3", Follows: "v2",
		UpgradesFrom: []string{"v1"}, DowngradesTo: []string{"v1"},
		Handle: func(ctx *sdk.Context, s State, m fault.Msg) (State, error) {
			fault.Act(m)
			s.N++
			return s, ctx.Reply(s.N)
		},
		CodeChange: func(from string, old, extra codec.Raw) (State, error) {
			if err := fault.ActCodeChange(extra); err != nil {
				return State{}, err
			}
			return codec.DecodeStrict[State](old)
		},
		Downgrade: func(to string, s State, extra codec.Raw) (any, error) {
			return s, fault.ActDowngrade(extra)
		},
	})
}
