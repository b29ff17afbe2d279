// Package visits is the module of the plugin example: each process counts
// visits to pages. V1 is compiled into the service; v2 and v3 live in
// executables (../v2, ../v3) built with the plugin SDK, possibly after the
// service started.
//
// Every version takes the same message type, Msg: a module whose versions
// may run out of process receives one message type, which crosses as JSON.
package visits

import (
	"maps"

	"github.com/graftrt/graft/actor"
)

// Module is the module's name.
const Module = "visits"

// Msg is every message: a visit to Page, numbered Seq by its Sender, or,
// with Op "report", a call for the process's Report.
type Msg struct {
	Op     string `json:",omitempty"`
	Page   string `json:",omitempty"`
	Sender int    `json:",omitempty"`
	Seq    uint64 `json:",omitempty"`
}

// Report is the answer to a "report" call, the same from every version.
type Report struct {
	Version    string
	Visits     int64          // visits handled, by every version
	OutOfOrder int64          // visits whose Seq was not the next from their sender
	Pages      map[string]int // visits per page
	Top        string         // the most visited page (v3 only)
}

// StateV1 is V1's state; v2 and v3 keep their own shapes (see ../v2).
type StateV1 struct {
	Pages      map[string]int
	Last       map[int]uint64 // per sender, the last Seq handled
	OutOfOrder int
}

// V1 is the compiled-in first version.
var V1 = actor.Define(Module, "v1", actor.Funcs[StateV1]{
	Init: func(*actor.Context, any) (StateV1, error) {
		return StateV1{Pages: map[string]int{}, Last: map[int]uint64{}}, nil
	},
	Handle: func(ctx *actor.Context, s StateV1, msg any) (StateV1, error) {
		m, _ := msg.(Msg)
		switch m.Op {
		case "":
			s.Pages[m.Page]++
			if m.Seq != s.Last[m.Sender]+1 {
				s.OutOfOrder++
			}
			s.Last[m.Sender] = max(s.Last[m.Sender], m.Seq)
		case "report":
			var n int64
			for _, c := range s.Pages {
				n += int64(c)
			}
			ctx.Reply(Report{Version: "v1", Visits: n, OutOfOrder: int64(s.OutOfOrder), Pages: maps.Clone(s.Pages)})
		}
		return s, nil
	},
})
