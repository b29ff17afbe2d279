// Command v3 is version v3 of module visits: v2's state plus the most
// visited page, kept up to date. The example service builds it after it
// started and loads it live. Its state is a superset of v2's, so it needs
// no CodeChange of its own: it is Lenient, so the SDK decodes v2's state
// into it although Top is missing (the first visit fills it in); going
// back to v2 hands over v2's shape, without Top.
package main

import (
	"github.com/graftrt/graft/examples/plugin/visits"
	"github.com/graftrt/graft/upgrade/plugin/codec"
	"github.com/graftrt/graft/upgrade/plugin/sdk"
)

// State is v3's state.
type State struct {
	Pages      map[string]int
	Total      int64
	Next       map[int]uint64
	OutOfOrder int64
	Top        string
}

// V2State is v2's state, as the Downgrade hands it back (v2 decodes its
// state strictly: a Top it does not know would be refused).
type V2State struct {
	Pages      map[string]int
	Total      int64
	Next       map[int]uint64
	OutOfOrder int64
}

func main() { sdk.Serve(Module()) }

// Module is the version, as Serve runs it.
func Module() sdk.Module[State, visits.Msg] {
	return sdk.Module[State, visits.Msg]{
		Name: visits.Module, Version: "v3", Follows: "v2", Lenient: true,
		Init: func(codec.Raw) (State, error) {
			return State{Pages: map[string]int{}, Next: map[int]uint64{}}, nil
		},
		Handle: func(ctx *sdk.Context, s State, m visits.Msg) (State, error) {
			// A state decoded as it is from an older version may lack a map.
			if s.Pages == nil {
				s.Pages = map[string]int{}
			}
			if s.Next == nil {
				s.Next = map[int]uint64{}
			}
			switch m.Op {
			case "":
				s.Pages[m.Page]++
				s.Total++
				if want := s.Next[m.Sender]; m.Seq != max(want, 1) {
					s.OutOfOrder++
				}
				s.Next[m.Sender] = max(s.Next[m.Sender], m.Seq+1)
				if s.Pages[m.Page] > s.Pages[s.Top] {
					s.Top = m.Page
				}
			case "report":
				return s, ctx.Reply(visits.Report{Version: "v3", Visits: s.Total, OutOfOrder: s.OutOfOrder, Pages: s.Pages, Top: s.Top})
			}
			return s, nil
		},
		Downgrade: func(_ string, s State, _ codec.Raw) (any, error) {
			return V2State{Pages: s.Pages, Total: s.Total, Next: s.Next, OutOfOrder: s.OutOfOrder}, nil
		},
	}
}
