// Command v2 is version v2 of module visits, served out of process: build
// it with `make plugins` (or go build), and the service loads it by path
// and checksum. Its state adds a running total and keeps, per sender, the
// Seq expected next; CodeChange migrates v1's state, Downgrade hands it back.
package main

import (
	"github.com/graftrt/graft/examples/plugin/visits"
	"github.com/graftrt/graft/upgrade/plugin/codec"
	"github.com/graftrt/graft/upgrade/plugin/sdk"
)

// State is v2's state.
type State struct {
	Pages      map[string]int
	Total      int64
	Next       map[int]uint64
	OutOfOrder int64
}

func main() { sdk.Serve(Module()) }

// Module is the version, as Serve runs it.
func Module() sdk.Module[State, visits.Msg] {
	return sdk.Module[State, visits.Msg]{
		Name: visits.Module, Version: "v2", Follows: "v1",
		Init: func(codec.Raw) (State, error) {
			return State{Pages: map[string]int{}, Next: map[int]uint64{}}, nil
		},
		Handle: func(ctx *sdk.Context, s State, m visits.Msg) (State, error) {
			switch m.Op {
			case "":
				s.Pages[m.Page]++
				s.Total++
				if want := s.Next[m.Sender]; m.Seq != max(want, 1) {
					s.OutOfOrder++
				}
				s.Next[m.Sender] = max(s.Next[m.Sender], m.Seq+1)
			case "report":
				return s, ctx.Reply(visits.Report{Version: "v2", Visits: s.Total, OutOfOrder: s.OutOfOrder, Pages: s.Pages})
			}
			return s, nil
		},
		CodeChange: sdk.Migrate(func(old visits.StateV1, _ codec.Raw) (State, error) {
			s := State{Pages: old.Pages, Next: map[int]uint64{}, OutOfOrder: int64(old.OutOfOrder)}
			for _, n := range old.Pages {
				s.Total += int64(n)
			}
			for sender, last := range old.Last {
				s.Next[sender] = last + 1
			}
			return s, nil
		}),
		Downgrade: func(_ string, s State, _ codec.Raw) (any, error) {
			old := visits.StateV1{Pages: s.Pages, Last: map[int]uint64{}, OutOfOrder: int(s.OutOfOrder)}
			for sender, next := range s.Next {
				old.Last[sender] = next - 1
			}
			return old, nil
		},
	}
}
