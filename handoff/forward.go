package handoff

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
)

// After the commit, a registered name in the old process belongs to a
// forwarder: a process that sends every message it receives to the new
// process, by the same name, and relays the answers to calls. Code of the
// old process that is still running (the HTTP handlers being drained)
// keeps reaching the process it knew by name.

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

// startForwarder registers a forwarder under name.
func (n *Node) startForwarder(name string, v *actor.Version) {
	if _, ok := n.sys.Current(forwarderModule); !ok {
		if err := n.sys.Load(forwarderVersion()); err != nil {
			n.log.Error("handoff: forwarder module", zap.Error(err))
			return
		}
	}
	if _, err := n.sys.Spawn(forwarderModule, &fwdState{name: name, v: v, n: n}, actor.WithName(name)); err != nil {
		n.log.Warn("handoff: no forwarder for a name", zap.String("name", name), zap.Error(err))
	}
}
