// Package testkit holds what the cluster tests and their node executable
// (internal/testnode) share: message types, which must have the same names
// on every node, and the modules every test node loads.
package testkit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/chaos"
	"github.com/graftrt/graft/chaos/fault"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/mailbox"
	"github.com/graftrt/graft/supervisor"
)

// Messages of the test modules.
type (
	// Ping is a message; Echo records it (checking that each sender's
	// numbers arrive in order) and answers it as a call.
	Ping struct {
		From string
		N    int64
	}
	// Crash makes Echo exit with reason "crash: Reason".
	Crash struct{ Reason string }
	// Seen asks Echo how many Pings it recorded (int64), or an error if
	// one arrived out of order.
	Seen struct{}
	// Self asks for the process's number on its node (int64).
	Self struct{}
	// Stall is a call Echo never answers (it defers and forgets it).
	Stall struct{}
	// LinkTo makes Echo link to (Monitor: monitor) the process registered
	// as Name on Node, trapping exits if Trap; it answers "ok". With
	// ReportName set, every ExitMsg and Down Echo gets from then on is
	// sent as a string "<node>: exit <reason>" (or "down") to ReportName
	// on ReportNode.
	LinkTo struct {
		Name, Node             string
		Monitor                bool
		Trap                   bool
		ReportName, ReportNode string
	}
	// Relay makes Echo send Count Pings to Name on Node, as From.
	Relay struct {
		Name, Node, From string
		Count            int64
	}
	// AskSeen makes Echo call Seen on Name at Node and answer with the
	// result: a call from this node, so it arrives after what this node
	// sent there.
	AskSeen struct{ Name, Node string }
	// Leave makes Echo take its node out of the cluster, handing the name
	// Name to node To (Node.Leave).
	Leave struct{ Name, To string }
	// Notes asks Echo for what it was told of links and monitors: one
	// line per ExitMsg or Down ("exit <reason>", "down <reason>").
	Notes struct{}
)

// Types lists the message types, for Node.Register.
func Types() []any {
	return []any{Ping{}, Crash{}, Seen{}, Self{}, Stall{}, LinkTo{}, Relay{}, Notes{}, AskSeen{}, Version{}, Leave{},
		Reset{}, Push{}, Letters{}}
}

type echoState struct {
	Last   map[string]int64
	Count  int64
	Bad    string
	Notes  []string
	Report cluster.Name
}

// Echo is the module "echo": see the message types.
func Echo(n *cluster.Node) *actor.Version {
	return actor.Define("echo", "v1", actor.Funcs[*echoState]{
		Init: func(ctx *actor.Context, args any) (*echoState, error) {
			return &echoState{Last: map[string]int64{}}, nil
		},
		Handle: func(ctx *actor.Context, s *echoState, msg any) (*echoState, error) {
			switch m := msg.(type) {
			case Ping:
				if ctx.IsCall() {
					ctx.Reply(m)
					return s, nil
				}
				if last, ok := s.Last[m.From]; ok && m.N <= last && s.Bad == "" {
					s.Bad = fmt.Sprintf("from %s: %d after %d", m.From, m.N, last)
				}
				s.Last[m.From] = m.N
				s.Count++
			case Crash:
				return s, fmt.Errorf("crash: %s", m.Reason)
			case Seen:
				if s.Bad != "" {
					ctx.ReplyError(fmt.Errorf("out of order: %s", s.Bad))
				} else {
					ctx.Reply(s.Count)
				}
			case Self:
				ctx.Reply(int64(ctx.Self().ID()))
			case Stall:
				ctx.Defer()
			case LinkTo:
				cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				pid, err := n.Whereis(cctx, cluster.Name{Name: m.Name, Node: m.Node})
				if err != nil {
					ctx.ReplyError(err)
					return s, nil
				}
				if m.Trap {
					ctx.TrapExit(true)
				}
				if m.ReportName != "" {
					s.Report = cluster.Name{Name: m.ReportName, Node: m.ReportNode}
				}
				if m.Monitor {
					ctx.Monitor(pid)
				} else if err := ctx.Link(pid); err != nil {
					ctx.ReplyError(err)
					return s, nil
				}
				ctx.Reply("ok")
			case Relay:
				var err error
				for i := range m.Count {
					if err = n.SendNamed(cluster.Name{Name: m.Name, Node: m.Node}, Ping{From: m.From, N: i + 1}); err != nil {
						break
					}
				}
				if err != nil {
					ctx.ReplyError(err)
				} else {
					ctx.Reply("ok")
				}
			case AskSeen:
				cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				v, err := n.CallNamed(cctx, cluster.Name{Name: m.Name, Node: m.Node}, Seen{})
				if err != nil {
					ctx.ReplyError(err)
				} else {
					ctx.Reply(v)
				}
			case Push:
				if v, err := push(n, m); err != nil {
					ctx.ReplyError(err)
				} else {
					ctx.Reply(v)
				}
			case Leave:
				cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = n.Leave(cctx, map[string]string{m.Name: m.To})
			case Notes:
				ctx.Reply(fmt.Sprint(s.Notes))
			case actor.ExitMsg:
				s.note(n, "exit "+m.Reason.Error())
			case actor.Down:
				s.note(n, "down "+m.Reason.Error())
			default:
				if ctx.IsCall() {
					ctx.Reply(msg)
				}
			}
			return s, nil
		},
	})
}

func (s *echoState) note(n *cluster.Node, text string) {
	s.Notes = append(s.Notes, text)
	if s.Report.Name != "" {
		_ = n.SendNamed(s.Report, n.Name()+": "+text)
	}
}

// Version asks a counter process which version handles it (a string).
type Version struct{}

// Reset sets a counter on v2 to zero: a message shape v2 introduces (see
// DeclareCounter). A counter on v1 would take it for an increment.
type Reset struct{}

// Counter returns the module "counter" in two versions: v2 follows v1,
// with a CodeChange and a Downgrade. With badV2, v2's CodeChange fails
// (a node whose dry run refuses the plan). Every message but Version (and
// Reset, on v2) adds one; a call answers the count before it. Each
// version lists the message types it takes in its Types (increments are
// int64, a basic type).
func Counter(badV2 bool) (v1, v2 *actor.Version) {
	handle := func(ctx *actor.Context, n int64, msg any) (int64, error) {
		if _, ok := msg.(Version); ok {
			ctx.Reply(ctx.Version())
			return n, nil
		}
		if ctx.IsCall() {
			ctx.Reply(n)
		}
		return n + 1, nil
	}
	v1 = actor.Define("counter", "v1", actor.Funcs[int64]{Codec: actor.JSON, Types: []any{Version{}}, Handle: handle})
	v2 = actor.Define("counter", "v2", actor.Funcs[int64]{
		Follows: "v1",
		Codec:   actor.JSON,
		Types:   []any{Version{}, Reset{}},
		Handle: func(ctx *actor.Context, n int64, msg any) (int64, error) {
			if _, ok := msg.(Reset); ok {
				return 0, nil
			}
			return handle(ctx, n, msg)
		},
		CodeChange: actor.Migrate(func(n int64, extra any) (int64, error) {
			if badV2 {
				return 0, fmt.Errorf("v2 refuses this node's state")
			}
			return n, nil
		}),
		Downgrade: func(to string, n int64, extra any) (any, error) { return n, nil },
	})
	return v1, v2
}

// DeclareCounter declares the counter's versions on n, with the message
// types their Types list: v1 takes Version (and increments, int64, a
// basic type); v2 adds Reset.
func DeclareCounter(n *cluster.Node, v1, v2 *actor.Version) error {
	if err := n.RegisterMessages(v1); err != nil {
		return err
	}
	return n.RegisterMessages(v2)
}

// Push makes Echo send, to the counter Name on Node, Count increments
// (int64 1) with, if Reset, a Reset after the first Before of them; then
// it calls the counter with an increment, which arrives after them, and
// answers with the count that call saw (int64), or with the first error.
type Push struct {
	Name, Node    string
	Count, Before int64
	Reset         bool
}

func push(n *cluster.Node, m Push) (any, error) {
	to := cluster.Name{Name: m.Name, Node: m.Node}
	for i := range m.Count {
		if m.Reset && i == m.Before {
			if err := n.SendNamed(to, Reset{}); err != nil {
				return nil, err
			}
		}
		if err := n.SendNamed(to, int64(1)); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return n.CallNamed(ctx, to, int64(1))
}

// Letters asks the "letters" process (LetterBook) for the dead letters
// of its node so far: one line each, "<message type>: <reason>" (the type
// of the message a ToName carries, for one sent by name), in the
// order they were reported (a string).
type Letters struct{}

// LetterBook is the module "letters": its process records the dead
// letters of its System from its start, and answers Letters.
func LetterBook(sys *actor.System) *actor.Version {
	return actor.Define("letters", "v1", actor.Funcs[*book]{
		Init: func(ctx *actor.Context, args any) (*book, error) {
			b := &book{}
			b.cancel = sys.Subscribe(func(e actor.Event) {
				if d, ok := e.(actor.DeadLetter); ok {
					msg := d.Message
					if tn, ok := msg.(cluster.ToName); ok {
						msg = tn.Message
					}
					b.add(fmt.Sprintf("%T: %v", msg, d.Reason))
				}
			})
			return b, nil
		},
		Handle: func(ctx *actor.Context, b *book, msg any) (*book, error) {
			if _, ok := msg.(Letters); ok {
				ctx.Reply(b.String())
			}
			return b, nil
		},
		Terminate: func(ctx *actor.Context, b *book, reason error) { b.cancel() },
	})
}

type book struct {
	cancel func()
	mu     sync.Mutex
	lines  []string // guarded by mu
}

func (b *book) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
}

func (b *book) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// ChaosService is what a node of the cluster chaos test runs: modules
// "work" (v1, v2, v3) and "aux" (v1, v2), which count what they handle,
// let fault messages act and let migration faults act, under a root
// one_for_one over a one_for_one and a rest_for_one of both, and two
// workers with bounded mailboxes. Every worker is registered under its
// child id (work-a0, aux-b1, ...), so that other nodes reach it by name.
// It returns the root and the node's chaos configuration.
func ChaosService(sys *actor.System) (*supervisor.Handle, chaos.Config, error) {
	work := []*actor.Version{chaosVersion("work", "v1", ""), chaosVersion("work", "v2", "v1"), chaosVersion("work", "v3", "v2")}
	aux := []*actor.Version{chaosVersion("aux", "v1", ""), chaosVersion("aux", "v2", "v1")}
	for _, v := range []*actor.Version{work[0], aux[0]} {
		if err := sys.Load(v); err != nil {
			return nil, chaos.Config{}, err
		}
	}
	workers := func(module, prefix string, n int, handoff bool, opts ...actor.SpawnOption) []supervisor.ChildSpec {
		specs := make([]supervisor.ChildSpec, n)
		for i := range specs {
			id := fmt.Sprint(prefix, i)
			specs[i] = supervisor.ChildSpec{ID: id, Handoff: handoff,
				Start: supervisor.StartSpec{Module: module, Options: append([]actor.SpawnOption{actor.WithName(id)}, opts...)}}
		}
		return specs
	}
	lots := supervisor.Flags{Intensity: 100_000, Period: time.Second}
	restForOne := lots
	restForOne.Strategy = supervisor.RestForOne
	specs := []supervisor.ChildSpec{
		supervisor.Spec("a", lots, append(workers("work", "work-a", 8, true), workers("aux", "aux-a", 4, true)...)),
		supervisor.Spec("b", restForOne, append(workers("work", "work-b", 4, false), workers("aux", "aux-b", 2, false)...)),
	}
	specs = append(specs, workers("work", "work-q", 2, false, actor.WithMailbox(8, mailbox.DropOldest))...)
	root, err := supervisor.Start(sys, lots, specs)
	if err != nil {
		return nil, chaos.Config{}, err
	}
	return root, chaos.Config{
		Module: "work", Versions: work, Modules: []chaos.Module{{Name: "aux", Versions: aux}},
		Senders: 1, Rate: 1000, Interval: 5 * time.Millisecond, Burst: 16,
		UpgradeTimeout: 300 * time.Millisecond, Settle: 10 * time.Second,
	}, nil
}

// chaosVersion is a version of a ChaosService module: its state counts
// the messages it handled.
func chaosVersion(module, name, follows string) *actor.Version {
	return actor.Define(module, name, actor.Funcs[int64]{
		Follows: follows,
		Handle: func(ctx *actor.Context, n int64, msg any) (int64, error) {
			if m, ok := msg.(fault.Msg); ok {
				fault.Act(m)
			}
			ctx.Reply(n + 1)
			return n + 1, nil
		},
		CodeChange: func(_ string, old, extra any) (int64, error) {
			n, _ := old.(int64)
			return n, fault.ActCodeChange(extra)
		},
		Downgrade: func(_ string, n int64, extra any) (any, error) { return n, fault.ActDowngrade(extra) },
	})
}
