package cluster

import (
	"ergo.services/ergo/gen"
	"ergo.services/ergo/net/proto"
)

// Packets from other nodes are handled where Ergo decodes them, on the
// goroutine that drains the connection's receive queue, not by the
// bridge process: a message to an Ergo process wakes the process's
// goroutine, and on a call's round trip that was two goroutine switches
// more than Ergo's own calls make (the request's at the far node, the
// reply's at the caller). The far node's process and the caller are
// woken straight from there, as Ergo's own process and caller are.
//
// Ergo routes what a connection decodes through the gen.Core its protocol
// was given; the connection is Ergo's own (net/proto, the same bytes on
// the wire), created with a Core that passes a packet for the bridge to
// the node (inlineCore) and everything else to Ergo. Per-sender order
// holds: every packet of a node comes from its bridge on the one
// connection between two nodes, and Ergo's receiving end puts every
// message of one sender in the same queue, drained by one goroutine at a
// time.
//
// Ergo picks the protocol of a connection by the version the route
// names: acceptors by their own (Ergo's, so that any build can dial
// this node), dials by the version in the route. The protocol is
// registered twice: as Ergo's version for the acceptor, and under
// dialVersion for this node's dials, which name it in their routes (a
// catch-all static route whose resolver asks the registrar and renames
// Ergo's version, see dialResolver; Options.Registrar.Routes name it too).
// A connection Ergo makes on its own, with Ergo's plain protocol, still
// works: its packets go to the bridge process as before.

// inlineProto is Ergo's protocol with connections that hand packets to n.
type inlineProto struct {
	gen.NetworkProto
	n       *Node
	version gen.Version
}

func newInlineProto(n *Node, dial bool) inlineProto {
	p := inlineProto{NetworkProto: proto.Create(), n: n}
	p.version = p.NetworkProto.Version()
	if dial {
		p.version = dialVersion(p.version)
	}
	return p
}

// dialVersion is the name this node's dials give Ergo's protocol version
// v, for Ergo to pick inlineProto.
func dialVersion(v gen.Version) gen.Version {
	v.Name += "+graft"
	return v
}

func (p inlineProto) Version() gen.Version { return p.version }

func (p inlineProto) NewConnection(core gen.Core, r gen.HandshakeResult, log gen.Log) (gen.Connection, error) {
	return p.NetworkProto.NewConnection(inlineCore{Core: core, n: p.n}, r, log)
}

// inlineCore hands the node's packets to it, on the connection's goroutine.
type inlineCore struct {
	gen.Core
	n *Node
}

func (c inlineCore) RouteSendProcessID(from gen.PID, to gen.ProcessID, opts gen.MessageOptions, msg any) error {
	if pk, ok := msg.(packet); ok && to.Name == bridgeName && (to.Node == "" || to.Node == c.Name()) {
		if c.n.receiving() {
			c.n.receive(nil, from, pk)
			return nil
		}
	}
	return c.Core.RouteSendProcessID(from, to, opts, msg)
}

// receiving says whether the node takes packets here (its bridge has
// started; until then a packet goes where Ergo would send it: to the
// bridge, or refused as one for an unknown process before the bridge is
// there).
func (n *Node) receiving() bool { return n.ready.Load() }

// dialResolver resolves routes with the registrar and names Ergo's
// protocol in them by dialVersion.
type dialResolver struct {
	gen.Resolver
	ergo gen.Version
}

func (r dialResolver) Resolve(name gen.Atom) ([]gen.Route, error) {
	routes, err := r.Resolver.Resolve(name)
	for i := range routes {
		if routes[i].ProtoVersion == r.ergo {
			routes[i].ProtoVersion = dialVersion(r.ergo)
		}
	}
	return routes, err
}

// routeDials registers the protocol for this node's dials and the route
// that names it (see the introduction above); with ergoOnly, only notes
// Ergo's version for the routes of Options.Registrar.Routes.
func (n *Node) routeDials(ergoOnly bool) error {
	dial := newInlineProto(n, true)
	ergo := dial.NetworkProto.Version()
	if ergoOnly {
		n.dialProto = ergo
		return nil
	}
	n.dialProto = dial.version
	nw := n.en.Network()
	reg, err := nw.Registrar()
	if err != nil {
		return err
	}
	nw.RegisterProto(dial)
	return nw.AddRoute(".*", gen.NetworkRoute{Resolver: dialResolver{Resolver: reg.Resolver(), ergo: ergo}}, 0)
}
