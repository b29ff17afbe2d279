// Command tree starts a small supervision tree, crashes its workers one at
// a time and prints the tree after each crash, as WhichChildren reports it:
//
//	cd examples && go run ./tree
//
// The tree:
//
//	app   one_for_one, at most 3 restarts a minute
//	├── db      worker
//	└── web     rest_for_one, at most 2 restarts a minute
//	    ├── cache     worker
//	    └── handler   worker (started after cache: it depends on it)
//
// Steps: handler crashes (restarted alone: nothing was started after it);
// cache crashes (restarted with handler, which was started after it); db
// crashes (restarted alone: one_for_one; web is untouched); cache crashes
// again, web's third restart in a minute: more than its intensity, so web
// gives up, stops its children and exits, and app restarts it, children
// and all.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/supervisor"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tree:", err)
		os.Exit(1)
	}
}

// worker is the one module of the example: a process that crashes when
// told to.
var worker = actor.Define("worker", "v1", actor.Funcs[string]{
	Init: func(_ *actor.Context, args any) (string, error) { return args.(string), nil },
	Handle: func(ctx *actor.Context, name string, msg any) (string, error) {
		if msg == "crash" {
			return name, fmt.Errorf("%s crashed", name)
		}
		ctx.Reply(name)
		return name, nil
	},
})

func workerSpec(id string) supervisor.ChildSpec {
	return supervisor.ChildSpec{ID: id, Start: supervisor.StartSpec{
		Module: "worker", Args: id, Options: []actor.SpawnOption{actor.WithName(id)},
	}}
}

func run(ctx context.Context, out io.Writer) error {
	sys := actor.NewSystem()
	defer func() { _ = sys.Shutdown(context.Background()) }()
	if err := sys.Load(worker); err != nil {
		return err
	}
	// Each step waits for the restart it causes: the supervisors report
	// every child they start.
	started := make(chan supervisor.ChildStarted, 16)
	defer sys.Subscribe(func(ev actor.Event) {
		if s, ok := ev.(supervisor.ChildStarted); ok && s.Restart {
			started <- s
		}
	})()

	app, err := supervisor.Start(sys, supervisor.Flags{Strategy: supervisor.OneForOne, Intensity: 3, Period: time.Minute}, []supervisor.ChildSpec{
		workerSpec("db"),
		supervisor.Spec("web", supervisor.Flags{Strategy: supervisor.RestForOne, Intensity: 2, Period: time.Minute},
			[]supervisor.ChildSpec{workerSpec("cache"), workerSpec("handler")}),
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "started:")
	if err := show(ctx, out, sys, app, "  "); err != nil {
		return err
	}

	for _, step := range []struct {
		crash, title string
		until        string // the restart that ends the step
	}{
		{"handler", "handler crashes: rest_for_one restarts it alone", "handler"},
		{"cache", "cache crashes: rest_for_one restarts it and handler, started after it", "handler"},
		{"db", "db crashes: one_for_one restarts it alone", "db"},
		{"cache", "cache crashes again: web's third restart in a minute is one too many;\nweb stops its children and exits, and app restarts web", "web"},
	} {
		if err := sys.SendNamed(step.crash, "crash"); err != nil {
			return err
		}
		if err := await(ctx, started, step.until); err != nil {
			return err
		}
		fmt.Fprintf(out, "\n%s:\n", step.title)
		if err := show(ctx, out, sys, app, "  "); err != nil {
			return err
		}
	}
	return nil
}

// await waits for the restart of child id.
func await(ctx context.Context, started <-chan supervisor.ChildStarted, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		select {
		case s := <-started:
			if s.ID == id {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to restart: %w", id, ctx.Err())
		}
	}
}

// show prints a supervisor's children, and theirs, as WhichChildren
// reports them.
func show(ctx context.Context, out io.Writer, sys *actor.System, sup *supervisor.Handle, indent string) error {
	children, err := sup.WhichChildren(ctx)
	if err != nil {
		return err
	}
	for _, c := range children {
		kind := c.Type.String()
		if c.Type == supervisor.Supervisor {
			flags, err := supervisor.Of(sys, c.PID).Flags(ctx)
			if err != nil {
				return err
			}
			kind = flags.Strategy.String()
		}
		fmt.Fprintf(out, "%s%-8s %-13s %-10s restarts %d\n", indent, c.ID, kind, c.Restart, c.Restarts)
		if c.Type == supervisor.Supervisor {
			if err := show(ctx, out, sys, supervisor.Of(sys, c.PID), indent+"  "); err != nil {
				return err
			}
		}
	}
	return nil
}
