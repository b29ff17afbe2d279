package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"ergo.services/ergo/gen"
	"go.uber.org/zap"
)

// NodeLeft is the event a node reports when another node leaves with a
// handoff (Leave): from now on {name, Node} means {name, Handoff[name]}.
type NodeLeft struct {
	Node    string
	Handoff map[string]string
}

// Leave takes this node out of the cluster gracefully: it tells every
// node it is connected to that the traffic addressed to its registered
// names goes, from now on, to other nodes (handoff: name → node; the
// process registered under the name there takes it), waits for each to
// acknowledge, then stops (Stop). On the nodes told, SendNamed, CallNamed
// and Whereis of {name, this node} go to {name, handoff[name]} — until
// this node joins again (a new incarnation), which ends the handoff.
//
// What is handed over is addressing by name, for the future. What is not:
// the messages queued in this node's processes (they are handled or
// reported as dead letters here, as any stopping process's are), the
// state of its processes (start the processes that take the names before
// leaving, or let a supervisor there start them), PIDs of this node's
// processes (dead once it has left), and names not listed.
func (n *Node) Leave(ctx context.Context, handoff map[string]string) error {
	var lines []string
	for name, to := range handoff {
		if name == "" || strings.ContainsAny(name, "\t\n") {
			return fmt.Errorf("%w: handoff name %q", ErrBadOptions, name)
		}
		if err := checkName(to); err != nil {
			return err
		}
		if n.isLocal(to) {
			return fmt.Errorf("%w: %q is handed to this node, which is leaving", ErrBadOptions, name)
		}
		lines = append(lines, name+"\t"+to)
	}
	sort.Strings(lines)
	spec := strings.Join(lines, "\n")
	var failed []string
	for _, node := range n.en.Network().Nodes() {
		p, err := n.connect(node)
		if err == nil {
			_, err = n.request(ctx, p, wire{Kind: kHandoff, Name: spec})
		}
		if err != nil {
			failed = append(failed, string(node))
			n.log.Warn("leave: a node was not told of the handoff", zap.String("peer", string(node)), zap.Error(err))
		}
	}
	if err := n.Stop(ctx); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("cluster: left, but %s were not told of the handoff", strings.Join(failed, ", "))
	}
	return nil
}

// handedOff records a node's handoff (the bridge, on kHandoff) and answers.
func (n *Node) handedOff(p *peer, w wire) {
	m := map[string]gen.Atom{}
	event := NodeLeft{Node: string(p.name), Handoff: map[string]string{}}
	for _, line := range strings.Split(w.Name, "\n") {
		if name, to, ok := strings.Cut(line, "\t"); ok {
			m[name] = gen.Atom(to)
			event.Handoff[name] = to
		}
	}
	n.mu.Lock()
	n.handoffs[p.name] = m
	n.mu.Unlock()
	n.replyKind(p, kSpawnReply, w.Ref, 0, nil)
	n.sys.Emit(event)
}

// resolve follows handoffs: where {name, node} is to be found now (a few
// hops at most, so that a cycle of handoffs cannot loop).
func (n *Node) resolve(name Name) Name {
	n.mu.Lock()
	defer n.mu.Unlock()
	for range 4 {
		to, ok := n.handoffs[gen.Atom(name.Node)][name.Name]
		if !ok {
			break
		}
		name.Node = string(to)
	}
	return name
}
