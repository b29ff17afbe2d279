package handoff

import (
	"fmt"

	"github.com/graftrt/graft/actor"
)

// After the commit, a registered name in the old process belongs to a
// forwarder: a process that sends every message it receives to the new
// process, by the same name, and relays the answers to calls. Code of the
// old process that is still running (the HTTP handlers being drained)
// keeps reaching the process it knew by name: the name moves from the
// process to its forwarder in one step (actor.System.EvictTo), and the
// forwarder, suspended until the process's queue has gone over, keeps
// each sender's order.

// forwarderModule is the module of forwarders.
const forwarderModule = "graft.handoff.forward"

type fwdState struct {
	name string
	v    *actor.Version // the module version the name's process ran here
	n    *Node
}

func forwarderVersion() *actor.Version {
	return actor.Define(forwarderModule, "v1", actor.Funcs[*fwdState]{
		Init: func(ctx *actor.Context, args any) (*fwdState, error) {
			st, ok := args.(*fwdState)
			if !ok {
				return nil, fmt.Errorf("handoff: forwarder started with %T", args)
			}
			return st, nil
		},
		Handle: func(ctx *actor.Context, st *fwdState, msg any) (*fwdState, error) {
			l := actor.Letter{Msg: msg}
			if ctx.IsCall() {
				l.Reply = ctx.Defer()
			}
			st.n.forward(deliver{Name: st.name}, st.v, l)
			return st, nil
		},
	})
}

// loadForwarder makes the forwarder module known, once per system.
func (n *Node) loadForwarder() error {
	if _, ok := n.sys.Current(forwarderModule); ok {
		return nil
	}
	return n.sys.Load(forwarderVersion())
}

// spawnForwarder starts a forwarder for name, without the name: it takes
// it as its process is evicted (actor.System.EvictAll), suspended until
// that process's queue has gone over.
func (n *Node) spawnForwarder(name string, v *actor.Version) (actor.PID, error) {
	return n.sys.Spawn(forwarderModule, &fwdState{name: name, v: v, n: n})
}
