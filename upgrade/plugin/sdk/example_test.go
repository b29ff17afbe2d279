package sdk_test

import (
	"github.com/graftrt/graft/upgrade/plugin/codec"
	"github.com/graftrt/graft/upgrade/plugin/sdk"
)

type Msg struct {
	Op   string
	Page string
}

type StateV2 struct{ Pages map[string]int }

type State struct {
	Pages map[string]int
	Total int
}

// The main of a plugin version: v3 of module "visits", migrating v2's
// state. Build it with go build; the service loads the executable by path
// and SHA-256. (Not run: Serve talks to the host that started it.)
func ExampleServe() {
	sdk.Serve(sdk.Module[State, Msg]{
		Name: "visits", Version: "v3",
		Handle: func(ctx *sdk.Context, s State, m Msg) (State, error) {
			switch m.Op {
			case "visit":
				s.Pages[m.Page]++
				s.Total++
			case "total":
				return s, ctx.Reply(s.Total)
			}
			return s, nil
		},
		CodeChange: sdk.Migrate(func(old StateV2, _ codec.Raw) (State, error) {
			s := State{Pages: old.Pages}
			for _, n := range old.Pages {
				s.Total += n
			}
			return s, nil
		}),
	})
}
