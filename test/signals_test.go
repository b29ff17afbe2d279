package test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/internal/script"
)

// TestSignalScenarios runs the scripts in testdata/signals: races between
// exit signals, handoffs and exits at the level of single processes,
// pinned down by parking processes in handlers so that signals queue in a
// chosen order. Commands (see signalRunner.run):
//
//	spawn P                  a process that traps exits
//	spawn C of P handoff     a child of P (not trapping), linked, WithHandoff
//	park X                   X enters a handler and stays there
//	release X                ... until this
//	send X m1 m2             user messages to X
//	kill X / exit X reason=R exit signals to X (queued while X is parked)
//	await X                  wait for X's exit; prints "X exited reason=R"
//
// await also prints the dead letters reported since the last await, as
// "dead letter to=X msg=M reason=R", in order: an exit reports them before
// it is done. The other commands wait for nothing, so what they would
// print would depend on how far the processes they let go have run.
func TestSignalScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/signals/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			r := newSignalRunner(t)
			script.Run(t, f, r.run)
		})
	}
}

// sigMsg is what the "sig" module runs in a handler.
type sigMsg func(ctx *actor.Context)

var sigVersion = actor.Define("sig", "v1", actor.Funcs[struct{}]{
	Init: func(ctx *actor.Context, args any) (struct{}, error) {
		ctx.TrapExit(args == "trap")
		return struct{}{}, nil
	},
	Handle: func(ctx *actor.Context, s struct{}, msg any) (struct{}, error) {
		if f, ok := msg.(sigMsg); ok {
			f(ctx)
		}
		return s, nil
	},
})

type signalRunner struct {
	t       *testing.T
	sys     *actortest.System
	pids    map[string]actor.PID
	names   map[actor.PID]string
	gates   map[string]chan struct{}
	watches map[string]*actor.Exited

	mu      sync.Mutex
	letters []string // guarded by mu
}

func newSignalRunner(t *testing.T) *signalRunner {
	r := &signalRunner{t: t, sys: actortest.NewSystem(t), pids: map[string]actor.PID{}, names: map[actor.PID]string{},
		gates: map[string]chan struct{}{}, watches: map[string]*actor.Exited{}}
	if err := r.sys.Load(sigVersion); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.sys.Subscribe(func(e actor.Event) {
		if d, ok := e.(actor.DeadLetter); ok {
			r.mu.Lock()
			r.letters = append(r.letters, fmt.Sprintf("dead letter to=%s msg=%v reason=%v", r.names[d.To], d.Message, d.Reason))
			r.mu.Unlock()
		}
	}))
	return r
}

func (r *signalRunner) add(name string, pid actor.PID) {
	r.mu.Lock()
	r.pids[name], r.names[pid] = pid, name
	r.mu.Unlock()
	r.watches[name] = r.sys.Watch(pid)
}

// do runs f in X's handler and waits for it.
func (r *signalRunner) do(x string, f func(ctx *actor.Context)) {
	done := make(chan struct{})
	if err := r.sys.Send(r.pids[x], sigMsg(func(ctx *actor.Context) { f(ctx); close(done) })); err != nil {
		r.t.Fatal(err)
	}
	<-done
}

func (r *signalRunner) run(line string) string {
	f := strings.Fields(line)
	var out []string
	switch cmd, args := f[0], f[1:]; cmd {
	case "spawn":
		if len(args) == 1 {
			pid, err := r.sys.Spawn("sig", "trap")
			if err != nil {
				r.t.Fatal(err)
			}
			r.add(args[0], pid)
			break
		}
		var opts []actor.SpawnOption
		if len(args) > 3 && args[3] == "handoff" {
			opts = append(opts, actor.WithHandoff())
		}
		r.do(args[2], func(ctx *actor.Context) {
			pid, err := ctx.SpawnLink("sig", nil, opts...)
			if err != nil {
				r.t.Fatal(err)
			}
			r.add(args[0], pid)
		})
	case "park":
		gate, entered := make(chan struct{}), make(chan struct{})
		r.gates[args[0]] = gate
		if err := r.sys.Send(r.pids[args[0]], sigMsg(func(*actor.Context) { close(entered); <-gate })); err != nil {
			r.t.Fatal(err)
		}
		<-entered
	case "release":
		close(r.gates[args[0]])
	case "send":
		for _, m := range args[1:] {
			if err := r.sys.Send(r.pids[args[0]], m); err != nil {
				out = append(out, "error: "+err.Error())
			}
		}
	case "kill":
		if err := r.sys.Kill(r.pids[args[0]]); err != nil {
			out = append(out, "error: "+err.Error())
		}
	case "exit":
		reason := errors.New(strings.TrimPrefix(args[1], "reason="))
		if err := r.sys.Exit(r.pids[args[0]], reason); err != nil {
			out = append(out, "error: "+err.Error())
		}
	case "await":
		w := r.watches[args[0]]
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		select {
		case <-w.Done():
		case <-ctx.Done():
			r.t.Fatalf("%s did not exit", args[0])
		}
		out = append(out, fmt.Sprintf("%s exited reason=%v", args[0], w.Reason()))
	default:
		r.t.Fatalf("unknown command %q", cmd)
	}
	if f[0] == "await" {
		r.mu.Lock()
		out = append(r.letters, out...)
		r.letters = nil
		r.mu.Unlock()
	}
	return strings.Join(out, "\n")
}
