package cluster

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"ergo.services/ergo/gen"

	"github.com/graftrt/graft/actor"
)

// Name is a registered name on a node: OTP's {Name, Node}. An empty Node
// is this node.
type Name struct {
	Name string
	Node string
}

func (nm Name) String() string { return "{" + nm.Name + ", " + nm.Node + "}" }

// ToName is the Message of a dead letter for a message sent by name
// (SendNamed) that no process took: on the sending node when the
// connection was lost before the far node took it, on the far node when
// nobody there holds the name.
type ToName struct {
	Name    Name
	Message any
}

func (n *Node) isLocal(node string) bool { return node == "" || gen.Atom(node) == n.name }

// SendNamed sends msg to the process registered as name.Name on
// name.Node. It returns once the message is on its way (at most once: see
// the package doc); an unknown name on the far node is a dead letter
// there, with reason ErrUnknownName. On this node it is System.SendNamed.
func (n *Node) SendNamed(name Name, msg any) error {
	name = n.resolve(name)
	if n.isLocal(name.Node) {
		return n.sys.SendNamed(name.Name, msg)
	}
	if msg == nil {
		return actor.ErrNilMessage
	}
	if name.Name == "" {
		return fmt.Errorf("%w: empty name", actor.ErrInvalidName)
	}
	typ, data, decl, err := n.codecs.encodeMessage(msg)
	if err != nil {
		return err
	}
	p, err := n.connect(gen.Atom(name.Node))
	if err != nil {
		return fmt.Errorf("cluster: send to %v: %w", name, err)
	}
	// Accounted for as a Send is; if lost, the dead letter says to whom.
	return n.sendTracked(p, actor.PID{}, ToName{Name: name, Message: msg},
		wire{Kind: kSendNamed, Name: name.Name, Type: typ, Data: data, ErrText: decl})
}

// CallNamed calls the process registered as name.Name on name.Node and
// waits for the answer, as System.CallNamed does: an unknown name fails
// with ErrUnknownName; without a deadline in ctx, the call waits 5 s at
// most.
func (n *Node) CallNamed(ctx context.Context, name Name, req any) (any, error) {
	name = n.resolve(name)
	if n.isLocal(name.Node) {
		return n.sys.CallNamed(ctx, name.Name, req)
	}
	if req == nil {
		return nil, actor.ErrNilMessage
	}
	p, err := n.connect(gen.Atom(name.Node))
	if err != nil {
		return nil, fmt.Errorf("cluster: call %v: %w", name, err)
	}
	if _, has := ctx.Deadline(); !has {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultCallTimeout)
		defer cancel()
	}
	return n.call(ctx, p, actor.PID{}, wire{Kind: kCallNamed, Name: name.Name}, req)
}

// Whereis returns the PID of the process registered as name.Name on
// name.Node (erlang:whereis/1 there): a PID this System can Send to, Call,
// link and monitor. An unknown name fails with ErrUnknownName.
func (n *Node) Whereis(ctx context.Context, name Name) (actor.PID, error) {
	name = n.resolve(name)
	if n.isLocal(name.Node) {
		pid, ok := n.sys.Whereis(name.Name)
		if !ok {
			return actor.PID{}, fmt.Errorf("%w: %q", actor.ErrUnknownName, name.Name)
		}
		return pid, nil
	}
	p, err := n.connect(gen.Atom(name.Node))
	if err != nil {
		return actor.PID{}, fmt.Errorf("cluster: whereis %v: %w", name, err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	ans, err := n.request(ctx, p, wire{Kind: kWhereis, Name: name.Name})
	if err != nil {
		return actor.PID{}, fmt.Errorf("cluster: whereis %v: %w", name, err)
	}
	if err := decodeErr(string(p.name), ans.ErrKind, ans.ErrText); err != nil {
		return actor.PID{}, err
	}
	return actor.NewPID(p.idx, ans.To), nil
}

// Spawn starts a process of module on node, with args (a registered type),
// and returns its PID (OTP's spawn/4). The module must be loaded there: an
// unknown module fails with actor.ErrUnknownModule; an Init failure comes
// back as the error. The process has no parent: link to it (or spawn it
// through a supervisor, see RemoteChild) to tie it to a local process.
func (n *Node) Spawn(ctx context.Context, node, module string, args any) (actor.PID, error) {
	if n.isLocal(node) {
		return n.sys.Spawn(module, args)
	}
	if module == "" {
		return actor.PID{}, fmt.Errorf("%w: empty module name", actor.ErrUnknownModule)
	}
	typ, data, err := n.codecs.encode(args)
	if err != nil {
		return actor.PID{}, err
	}
	p, err := n.connect(gen.Atom(node))
	if err != nil {
		return actor.PID{}, fmt.Errorf("cluster: spawn %s on %s: %w", module, node, err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	ans, err := n.request(ctx, p, wire{Kind: kSpawn, Name: module, Type: typ, Data: data})
	if err != nil {
		return actor.PID{}, fmt.Errorf("cluster: spawn %s on %s: %w", module, node, err)
	}
	if err := decodeErr(string(p.name), ans.ErrKind, ans.ErrText); err != nil {
		return actor.PID{}, fmt.Errorf("cluster: spawn %s on %s: %w", module, node, err)
	}
	return actor.NewPID(p.idx, ans.To), nil
}

// defaultCallTimeout bounds a request whose context has no deadline: 5 s,
// OTP's gen_server:call default.
const defaultCallTimeout = 5 * time.Second

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, has := ctx.Deadline(); has {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, defaultCallTimeout)
}

// RemoteChildModule is the module of the local stand-in for a process on
// another node (see RemoteChild), loaded by Join.
const RemoteChildModule = "cluster.remote_child"

// RemoteChild is the argument of RemoteChildModule: a supervisor child
// spec whose Start is StartSpec{Module: RemoteChildModule, Args:
// RemoteChild{...}} supervises a process of Module on Node. The stand-in
// spawns it there and links to it: the child's exit is the stand-in's exit,
// with the same reason, so the supervisor restarts it as its restart type
// says (a lost connection is an exit with noconnection); the supervisor
// stopping the stand-in sends the child an exit signal with the same
// reason. Messages sent to the stand-in go on to the child; calls are
// passed on and answered.
type RemoteChild struct {
	Node   string
	Module string
	Args   any
}

type remoteChildState struct {
	child actor.PID
}

// remoteChildVersion holds no node: it finds the one its System is
// attached to (see nodeOf), so one version serves every System, and a
// System that joins again after Stop keeps it.
var remoteChildVersion = actor.Define(RemoteChildModule, "v1", actor.Funcs[remoteChildState]{
	Init: func(ctx *actor.Context, args any) (remoteChildState, error) {
		rc, ok := args.(RemoteChild)
		if !ok {
			return remoteChildState{}, fmt.Errorf("%w: %s wants a RemoteChild, got %T", ErrBadOptions, RemoteChildModule, args)
		}
		n := nodeOf(ctx.System())
		if n == nil {
			return remoteChildState{}, fmt.Errorf("%w: the system is not attached to a node", ErrStopped)
		}
		if n.isLocal(rc.Node) {
			return remoteChildState{}, fmt.Errorf("%w: %s is this node; supervise the child directly", ErrBadOptions, rc.Node)
		}
		ctx.TrapExit(true)
		cctx, cancel := withDefaultTimeout(context.Background())
		defer cancel()
		pid, err := n.Spawn(cctx, rc.Node, rc.Module, rc.Args)
		if err != nil {
			return remoteChildState{}, err
		}
		if err := ctx.Link(pid); err != nil {
			return remoteChildState{}, err
		}
		return remoteChildState{child: pid}, nil
	},
	Handle: func(ctx *actor.Context, s remoteChildState, msg any) (remoteChildState, error) {
		if e, ok := msg.(actor.ExitMsg); ok {
			if e.From == s.child {
				return s, e.Reason // the child's exit is the stand-in's
			}
			return s, nil
		}
		if ctx.IsCall() {
			cctx, cancel := withDefaultTimeout(context.Background())
			defer cancel()
			if v, err := ctx.Call(cctx, s.child, msg); err != nil {
				ctx.ReplyError(err)
			} else {
				ctx.Reply(v)
			}
			return s, nil
		}
		if err := ctx.Send(s.child, msg); err != nil {
			ctx.System().Undeliverable(s.child, msg, refusal(err))
		}
		return s, nil
	},
	Terminate: func(ctx *actor.Context, s remoteChildState, reason error) {
		if !s.child.IsZero() {
			_ = ctx.Exit(s.child, reason)
		}
	},
})

// nodeSlot is where a System keeps the Node attached to it.
type nodeSlot struct{ n atomic.Pointer[Node] }

type nodeKey struct{}

func slotOf(sys *actor.System) *nodeSlot {
	return sys.Extension(nodeKey{}, func() any { return &nodeSlot{} }).(*nodeSlot)
}

// nodeOf returns the Node sys is attached to, or nil.
func nodeOf(sys *actor.System) *Node { return slotOf(sys).n.Load() }
