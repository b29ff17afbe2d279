// Command bankd is the handoff example's service: accounts as processes
// behind an HTTP API, handed over to a new build of itself on SIGHUP.
// Which versions a build runs is chosen when it is built:
//
//	go build -ldflags "-X main.variant=v2" -o bin/bankd-v2 ./handoff/cmd/bankd
//
// Variants: v1 (v1 current, v2 known), v2 (v2 current, v1 known); for the
// failure runs, nocodec (v1 without a codec), gap (v1 and v3 but not v2),
// crash (exits at start), unhealthy (its health check fails), hang (its
// migration never returns), migratefail (its migration fails),
// restorecrash (exits while it restores the processes).
//
// With -admin-token the admin API is mounted under /graft on the same
// listener (so the next build inherits it), and a handoff can also be
// triggered through it: graft --addr http://ADDR/graft upgrade-binary PATH
// --checksum SHA256.
//
// It prints one JSON object per line on stdout: listening, each handoff
// step, each handoff's report, exit.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/examples/handoff/account"
	"github.com/graftrt/graft/handoff"
	"github.com/graftrt/graft/supervisor"
)

var variant = "v1"

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

// say prints one line of the service's output.
func say(kv map[string]any) {
	kv["pid"] = os.Getpid()
	kv["variant"] = variant
	out.Lock()
	defer out.Unlock()
	_ = out.enc.Encode(kv)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	accounts := flag.Int("accounts", 50, "number of accounts")
	next := flag.String("next", "", "file with the next build's path and SHA-256, read on SIGHUP")
	adminToken := flag.String("admin-token", "", "mount the admin API under /graft with this bearer token")
	flag.Parse()
	if variant == "crash" {
		fmt.Fprintln(os.Stderr, "bankd: this build crashes at start")
		os.Exit(3)
	}
	if err := run(*addr, *accounts, *next, *adminToken); err != nil {
		say(map[string]any{"event": "error", "err": err.Error()})
		os.Exit(1)
	}
}

func run(addr string, accounts int, next, adminToken string) error {
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(zap.WarnLevel)
	cfg.DisableStacktrace = true
	logger, err := cfg.Build()
	if err != nil {
		return err
	}
	sys := actor.NewSystem(actor.WithLogger(logger))
	if err := load(sys); err != nil {
		return err
	}
	mux := http.NewServeMux()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	node := handoff.New(sys, handoff.Options{
		Servers:      []*http.Server{srv},
		DrainTimeout: 5 * time.Second,
		Check: func(ctx context.Context) error {
			if variant == "unhealthy" {
				return errors.New("this build's health check fails")
			}
			for i := range accounts {
				if _, err := sys.CallNamed(ctx, name(i), account.Get{}); err != nil {
					return err
				}
			}
			return nil
		},
	})
	defer sys.Subscribe(func(e actor.Event) {
		if ev, ok := e.(handoff.Event); ok {
			line := map[string]any{"event": "step", "step": ev.Step, "status": ev.Status}
			if ev.Err != nil {
				line["err"] = ev.Err.Error()
			}
			say(line)
		}
	})()

	ctx := context.Background()
	if handoff.Inherited() {
		if err := node.Receive(ctx); err != nil {
			return err
		}
	} else {
		specs := make([]supervisor.ChildSpec, accounts)
		for i := range specs {
			specs[i] = supervisor.ChildSpec{ID: name(i), Start: supervisor.StartSpec{Module: account.Module,
				Options: []actor.SpawnOption{actor.WithName(name(i))}}}
		}
		top, err := supervisor.Start(sys, supervisor.Flags{Intensity: 10, Period: time.Second}, specs, actor.WithName("accounts"))
		if err != nil {
			return err
		}
		node.SetTrees(top)
	}

	var adm *admin.Server
	if adminToken != "" {
		adm, err = admin.Mount(mux, sys, admin.Options{Token: adminToken, Supervisors: node.Trees(), Handoff: node})
		if err != nil {
			return err
		}
	}

	mux.HandleFunc("POST /deposit", func(w http.ResponseWriter, r *http.Request) {
		i, err1 := strconv.Atoi(r.URL.Query().Get("acct"))
		n, err2 := strconv.ParseInt(r.URL.Query().Get("amount"), 10, 64)
		if err1 != nil || err2 != nil || i < 0 || i >= accounts {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if err := send(sys, name(i), account.Deposit{Amount: n}); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /balance", func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(r.URL.Query().Get("acct"))
		if err != nil || i < 0 || i >= accounts {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		v, err := sys.CallNamed(r.Context(), name(i), account.Get{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, v)
	})

	ln, err := node.Listen("tcp", addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	say(map[string]any{"event": "listening", "addr": ln.Addr().String()})

	stop := node.OnSIGHUP(func() (handoff.Target, error) {
		b, err := os.ReadFile(next)
		if err != nil {
			return handoff.Target{}, err
		}
		f := strings.Fields(string(b))
		if len(f) != 2 {
			return handoff.Target{}, fmt.Errorf("%s: want a path and a checksum", next)
		}
		return handoff.Target{Path: f[0], Checksum: f[1]}, nil
	}, func(rep *handoff.Report, err error) {
		line := map[string]any{"event": "report", "report": rep}
		if err != nil {
			line["err"] = err.Error()
		}
		say(line)
	})

	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, os.Interrupt)
	select {
	case <-node.Done():
	case <-term:
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	stop()
	<-served
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if adm != nil {
		_ = adm.Close(sctx)
	}
	err = sys.Shutdown(sctx)
	node.Close()
	say(map[string]any{"event": "exit"})
	return err
}

// load makes the build's versions known and current.
func load(sys *actor.System) error {
	var stage []*actor.Version
	var current *actor.Version
	switch variant {
	case "v1":
		stage, current = []*actor.Version{account.V2}, account.V1
	case "v2", "unhealthy":
		stage, current = []*actor.Version{account.V1}, account.V2
	case "nocodec":
		current = account.V1NoCodec
	case "gap":
		stage, current = []*actor.Version{account.V1}, account.V3
	case "hang":
		stage = []*actor.Version{account.V1}
		current = account.V2Hang(func() { say(map[string]any{"event": "migration-hangs"}) })
	case "migratefail":
		stage = []*actor.Version{account.V1}
		current = account.V2Faulty(func() error { return errors.New("this build's migration fails") })
	case "restorecrash":
		stage = []*actor.Version{account.V1}
		current = account.V2Faulty(func() error {
			fmt.Fprintln(os.Stderr, "bankd: this build crashes while it restores")
			os.Exit(4)
			return nil
		})
	default:
		return fmt.Errorf("unknown variant %q", variant)
	}
	for _, v := range stage {
		if err := sys.Stage(v); err != nil {
			return err
		}
	}
	return sys.Load(current)
}

func name(i int) string { return "acct-" + strconv.Itoa(i) }

// send sends by name. A send refused as a name moves to its forwarder
// (handoff) was not taken: it is tried again at once, a few times.
func send(sys *actor.System, name string, msg any) error {
	var err error
	for range 3 {
		if err = sys.SendNamed(name, msg); err == nil || !(errors.Is(err, actor.NoProc) || errors.Is(err, actor.ErrUnknownName)) {
			return err
		}
	}
	return err
}
