package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"ergo.services/ergo/gen"

	"github.com/graftrt/graft/actor"
)

// NodeInfo is what a node says of itself (Node.Info): its processes, with
// the version each runs, and its modules, with the versions it knows. PIDs
// in it are as that node numbers its own processes (node 0): they are not
// PIDs this node can send to (look processes up by name instead).
type NodeInfo struct {
	Node        string
	Incarnation uint64
	Processes   []actor.ProcessStat
	Modules     []ModuleInfo
}

// ModuleInfo is one module of a node: its current and previous versions,
// the versions it knows (current, previous, in use, staged) with their
// lineage and activations, and the versions it retired.
type ModuleInfo struct {
	Name     string
	Current  string
	Previous string
	Versions []VersionInfo
	Retired  []string
}

// VersionInfo is one version a node knows.
type VersionInfo struct {
	Name         string
	Follows      string
	UpgradesFrom []string
	DowngradesTo []string
	// Activations counts the node's processes whose state it built.
	Activations int64
}

// PeerInfo is a node this node knows (Peers).
type PeerInfo struct {
	Name string
	// Connected: a connection to it is up now.
	Connected bool
	// Incarnation tells this run of the node from its others (see
	// docs/cluster.md).
	Incarnation uint64
}

// Incarnation returns this node's incarnation: drawn at random when it
// joined, it tells this run of the node from any other under its name.
func (n *Node) Incarnation() uint64 { return n.incarnation }

// Peers returns every other node this node has met, in its newest
// incarnation, sorted by name: whether a connection to it is up, and
// which incarnation it is.
func (n *Node) Peers() []PeerInfo {
	n.mu.Lock()
	out := make([]PeerInfo, 0, len(n.byName))
	for _, p := range n.byName {
		out = append(out, PeerInfo{Name: string(p.name), Connected: p.conn != nil && !p.gone, Incarnation: p.incarnation})
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b PeerInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Info asks node for its NodeInfo (this node's own is read at once): the
// far node reads it from its System (Snapshot, Modules) without a message
// to any of its processes. Without a deadline in ctx it waits 5 s at most;
// a lost connection fails with an error wrapping actor.NoConnection.
func (n *Node) Info(ctx context.Context, node string) (NodeInfo, error) {
	if n.isLocal(node) {
		return n.info(), nil
	}
	p, err := n.connect(gen.Atom(node))
	if err != nil {
		return NodeInfo{}, fmt.Errorf("cluster: info of %s: %w", node, err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	ans, err := n.request(ctx, p, wire{Kind: kInfo})
	if err != nil {
		return NodeInfo{}, fmt.Errorf("cluster: info of %s: %w", node, err)
	}
	if err := decodeErr(string(p.name), ans.ErrKind, ans.ErrText); err != nil {
		return NodeInfo{}, fmt.Errorf("cluster: info of %s: %w", node, err)
	}
	var info NodeInfo
	if err := json.Unmarshal(ans.Data, &info); err != nil {
		return NodeInfo{}, fmt.Errorf("cluster: info of %s: %w: %v", node, ErrDecode, err)
	}
	return info, nil
}

// info reads this node's NodeInfo from its System.
func (n *Node) info() NodeInfo {
	info := NodeInfo{Node: string(n.name), Incarnation: n.incarnation, Processes: n.sys.Snapshot()}
	for _, m := range n.sys.Modules() {
		mi := ModuleInfo{Name: m.Name, Current: m.Current, Previous: m.Previous, Retired: m.Retired}
		for _, v := range m.Versions {
			l := v.Lineage()
			mi.Versions = append(mi.Versions, VersionInfo{Name: v.Name(), Follows: l.Follows,
				UpgradesFrom: l.UpgradesFrom, DowngradesTo: l.DowngradesTo, Activations: m.Activations[v.Name()]})
		}
		info.Modules = append(info.Modules, mi)
	}
	return info
}

// serveInfo answers a kInfo request. The answer is JSON in the wire's
// Data: it is the node's own document, not a user message, so it needs
// no codec registration on either side.
func (n *Node) serveInfo(p *peer, ref uint64) {
	a := wire{Kind: kSpawnReply, Ref: ref}
	data, err := json.Marshal(n.info())
	if err != nil {
		a.ErrKind, a.ErrText = encodeErr(fmt.Errorf("cluster: encoding the node's info: %w", err))
	} else {
		a.Data = data
	}
	_ = n.send(p, 0, a)
}
