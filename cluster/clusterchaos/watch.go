package clusterchaos

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/cluster"
)

// WatcherModule is the module of the process through which a run
// monitors and links to the nodes' processes.
const WatcherModule = "clusterchaos.watcher"

// watch is a monitor (or a link) the coordinator placed on a process of a
// node.
type watch struct {
	node  int
	pid   actor.PID
	agent bool // the node's agent, which exits only with its node: it must fire with noconnection
	link  bool
	fired bool
	// gaveUp: the run stopped waiting for it (FaultTimeout), and reported
	// it; a late firing is not a second one.
	gaveUp bool
}

// Requests to the watcher process.
type (
	watchReq struct {
		node  int
		pid   actor.PID
		agent bool // and link to it
	}
	unwatchAll struct{}
)

var watcherVersion = actor.Define(WatcherModule, "v1", actor.Funcs[*run]{
	Init: func(ctx *actor.Context, args any) (*run, error) {
		ctx.TrapExit(true)
		return args.(*run), nil
	},
	Handle: func(ctx *actor.Context, r *run, msg any) (*run, error) {
		switch m := msg.(type) {
		case watchReq:
			// Recorded before the handler returns: the Down, handled
			// after it, finds it.
			ref := ctx.Monitor(m.pid)
			r.placed(ref, &watch{node: m.node, pid: m.pid, agent: m.agent})
			if m.agent && ctx.Link(m.pid) == nil {
				r.placed(actor.Ref{}, &watch{node: m.node, pid: m.pid, agent: true, link: true})
			}
			ctx.Reply(nil)
		case unwatchAll:
			r.wmu.Lock()
			for pid := range r.links {
				ctx.Unlink(pid)
			}
			clear(r.links)
			r.wmu.Unlock()
			ctx.Reply(nil)
		case actor.Down:
			r.down(m.Ref, m.PID, m.Reason)
		case actor.ExitMsg:
			r.exited(m.From, m.Reason)
		}
		return r, nil
	},
})

func (r *run) startWatcher() error {
	if err := loadOnce(r.sys, watcherVersion); err != nil {
		return err
	}
	pid, err := r.sys.Spawn(WatcherModule, r)
	if err != nil {
		return err
	}
	r.watcher = pid
	return nil
}

// stopWatcher unlinks the watcher from the nodes' agents (its exit must
// not reach them) and stops it; its monitors go with it.
func (r *run) stopWatcher() {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.FaultTimeout)
	defer cancel()
	_, _ = r.sys.Call(ctx, r.watcher, unwatchAll{})
	_ = r.sys.Stop(ctx, r.watcher)
}

// watchNode monitors ns's agent and links to it, and monitors each of its
// targets it finds.
func (r *run) watchNode(ctx context.Context, ns *nodeState) {
	_, _ = r.sys.Call(ctx, r.watcher, watchReq{node: ns.idx, pid: ns.agent, agent: true})
	r.watchTargets(ctx, ns)
}

// watchTargets monitors each of ns's targets it finds now. Workers come
// and go under the node's own faults: the run monitors them again right
// before a fault, so that the fault meets monitors of live processes.
func (r *run) watchTargets(ctx context.Context, ns *nodeState) {
	for _, name := range *ns.names.Load() {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.FaultTimeout)
		pid, err := r.n.Whereis(cctx, cluster.Name{Name: name, Node: ns.name})
		cancel()
		if err == nil { // not there: restarting under the node's own faults
			_, _ = r.sys.Call(ctx, r.watcher, watchReq{node: ns.idx, pid: pid})
		}
	}
}

// placed records a watch (a link: under its process, until it fires).
func (r *run) placed(ref actor.Ref, w *watch) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if w.link {
		r.links[w.pid] = w
		r.res.Links++
		return
	}
	r.watches[ref] = w
	r.res.Monitors++
}

func (r *run) down(ref actor.Ref, pid actor.PID, reason error) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	w := r.watches[ref]
	if w == nil {
		r.res.violate(checkWatches, "a Down from %v for a monitor never placed (%v)", pid, reason)
		return
	}
	r.fireLocked(w, reason)
}

func (r *run) exited(pid actor.PID, reason error) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	w := r.links[pid]
	if w == nil {
		r.res.violate(checkWatches, "an exit signal from %v with no link to it (%v)", pid, reason)
		return
	}
	delete(r.links, pid)
	r.fireLocked(w, reason)
}

// fireLocked marks w fired; wmu is held.
func (r *run) fireLocked(w *watch, reason error) {
	what := "monitor of"
	if w.link {
		what = "link to"
	}
	switch {
	case w.gaveUp:
		r.res.Fired["late"]++
	case w.fired:
		r.res.violate(checkWatches, "the %s %v on %s fired twice (%v)", what, w.pid, r.nodes[w.node].name, reason)
	case w.agent && !errors.Is(reason, actor.NoConnection):
		r.res.violate(checkWatches, "the %s the agent of %s fired with %v, not noconnection", what, r.nodes[w.node].name, reason)
	}
	if !w.fired {
		key := "nil"
		if reason != nil {
			key = reason.Error()
		}
		r.res.Fired[key]++
	}
	w.fired = true
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// watched reports whether ns's agent is monitored by a monitor that has
// not fired: its connection is up, as far as the run knows.
func (r *run) watched(ns *nodeState) bool {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	for _, w := range r.watches {
		if w.node == ns.idx && w.agent && !w.fired {
			return true
		}
	}
	return false
}

// unfiredLocked returns the watches of node that have not fired; wmu is
// held.
func (r *run) unfiredLocked(node int) []*watch {
	var out []*watch
	for _, w := range r.watches {
		if w.node == node && !w.fired {
			out = append(out, w)
		}
	}
	for _, w := range r.links {
		if w.node == node && !w.fired {
			out = append(out, w)
		}
	}
	return out
}

// awaitLost waits until every monitor and link to ns has fired and the
// call in progress h (if any) has returned, within cfg.FaultTimeout, and
// reports what did not happen: the connection to ns has been lost.
func (r *run) awaitLost(ns *nodeState, h *held) {
	deadline := time.NewTimer(r.cfg.FaultTimeout)
	defer deadline.Stop()
	var calls chan error
	if h != nil {
		calls = h.done
	}
	var callErr error
	for {
		r.wmu.Lock()
		left := len(r.unfiredLocked(ns.idx))
		r.wmu.Unlock()
		if left == 0 && calls == nil {
			break
		}
		select {
		case <-r.changed:
		case callErr = <-calls:
			calls = nil
		case <-deadline.C:
			r.wmu.Lock()
			for _, w := range r.unfiredLocked(ns.idx) {
				w.fired, w.gaveUp = true, true
				if w.link {
					delete(r.links, w.pid)
				}
				r.res.violate(checkWatches, "a monitor or link of %v on %s did not fire within %v of losing the connection", w.pid, ns.name, r.cfg.FaultTimeout)
			}
			if calls != nil {
				r.res.violate(checkCalls, "a call in progress to %s did not return within %v of losing the connection", ns.name, r.cfg.FaultTimeout)
			}
			r.wmu.Unlock()
			if calls != nil {
				<-calls // bounded by the call's own deadline, FaultTimeout
			}
			return
		}
	}
	if h != nil && !errors.Is(callErr, actor.NoConnection) {
		r.wmu.Lock()
		r.res.violate(checkCalls, "a call in progress to %s when its connection was lost ended with %v", ns.name, describe(callErr))
		r.wmu.Unlock()
	}
}

func describe(err error) string {
	if err == nil {
		return "an answer"
	}
	return fmt.Sprintf("%q", err.Error())
}
