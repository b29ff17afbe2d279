// Command plugin runs a service on a compiled-in version of module visits,
// then, without restarting, moves it to versions that live in executables:
// v2 (built beforehand, e.g. by `make plugins`) and v3, which it builds
// after it started, as a developer would ship a fix to a running service.
//
//	cd examples && go run ./plugin                        # builds v2 and v3 itself
//	make plugins && cd examples && go run ./plugin -v2 ../bin/plugins/visits-v2
//
// Steps, under load all along (senders number their visits per process,
// and every version checks the order):
//
//  1. v1 (compiled in) → v2 (plugin), atomic: every process is suspended,
//     its state migrated by v2's CodeChange in the plugin, then committed.
//  2. v3 is built now, loaded (checksum, handshake) and rolled out as a
//     canary: a quarter of the processes first, the rest after a health
//     gate.
//  3. v3 → v2, atomic downgrade; v3's plugin process exits with its last
//     activation.
//
// At the end every process reports what it handled: nothing is lost, and
// no plugin process outlives the system.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/examples/plugin/visits"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
	"github.com/graftrt/graft/upgrade/plugin"
)

type options struct {
	workers int
	rate    int    // visits per second, all senders together
	v2, v3  string // executables; empty: build them
	workDir string // where built executables go
	gate    time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.workers, "workers", 8, "visits processes")
	flag.IntVar(&o.rate, "rate", 20000, "visits per second")
	flag.StringVar(&o.v2, "v2", "", "v2 executable (default: build examples/plugin/v2)")
	flag.StringVar(&o.v3, "v3", "", "v3 executable (default: build examples/plugin/v3 after start)")
	flag.DurationVar(&o.gate, "gate", 500*time.Millisecond, "canary observation time")
	flag.Parse()
	dir, err := os.MkdirTemp("", "visits-")
	if err == nil {
		defer os.RemoveAll(dir)
		o.workDir = dir
		err = run(context.Background(), os.Stdout, o, zap.NewNop())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, o options, log *zap.Logger) error {
	sys := actor.NewSystem(actor.WithLogger(log))
	defer sys.Shutdown(context.Background())
	if err := sys.Load(visits.V1); err != nil {
		return err
	}
	specs := make([]supervisor.ChildSpec, o.workers)
	for i := range specs {
		specs[i] = supervisor.ChildSpec{ID: fmt.Sprint("visits-", i), Start: supervisor.StartSpec{Module: visits.Module}}
	}
	svc, err := supervisor.Start(sys, supervisor.Flags{Strategy: supervisor.OneForOne}, specs)
	if err != nil {
		return err
	}
	children, err := svc.WhichChildren(ctx)
	if err != nil {
		return err
	}
	load := startLoad(sys, children, o.rate)
	fmt.Fprintf(out, "service up: %d processes on visits v1 (compiled in), %d visits/s\n", len(children), o.rate)

	loader := plugin.NewLoader()
	v2, err := loadVersion(ctx, sys, loader, o.v2, "v2", o.workDir)
	if err != nil {
		return err
	}
	if err := step(ctx, out, svc, "v1 -> v2 (plugin), atomic", upgrade.Plan{Changes: change(v2)}); err != nil {
		return err
	}

	fmt.Fprintln(out, "building v3 now, with the service running...")
	v3, err := loadVersion(ctx, sys, loader, o.v3, "v3", o.workDir)
	if err != nil {
		return err
	}
	canary := upgrade.Plan{Mode: upgrade.Rolling, Waves: []float64{0.25, 1}, Gate: upgrade.Gate{Observe: o.gate}, Changes: change(v3)}
	if err := step(ctx, out, svc, "v2 -> v3 (plugin), canary 25% then all", canary); err != nil {
		return err
	}
	for _, p := range plugin.Processes(sys) {
		fmt.Fprintf(out, "  plugin %s@%s running: %v\n", p.Module, p.Version, p.OSPID != 0)
	}
	if err := step(ctx, out, svc, "v3 -> v2, atomic downgrade", upgrade.Plan{Changes: change(v2)}); err != nil {
		return err
	}
	for _, p := range plugin.Processes(sys) {
		fmt.Fprintf(out, "  plugin %s@%s running: %v\n", p.Module, p.Version, p.OSPID != 0)
	}

	sent := load.stop()
	var handled, disorder int64
	for _, c := range children {
		r, err := sys.Call(ctx, c.PID, visits.Msg{Op: "report"})
		if err != nil {
			return err
		}
		rep, err := decodeReport(r)
		if err != nil {
			return err
		}
		handled += rep.Visits
		disorder += rep.OutOfOrder
	}
	fmt.Fprintf(out, "visits sent %d, handled %d, lost %d, out of order %d\n", sent, handled, sent-handled, disorder)
	if err := sys.Shutdown(ctx); err != nil {
		return err
	}
	left := 0
	for _, p := range plugin.Processes(sys) {
		if p.OSPID != 0 {
			left++
		}
	}
	fmt.Fprintf(out, "system stopped; plugin processes left: %d\n", left)
	if sent != handled || disorder != 0 {
		return errors.New("messages were lost or reordered")
	}
	return nil
}

func change(v *actor.Version) []upgrade.Change {
	return []upgrade.Change{{Module: visits.Module, To: v}}
}

// step runs one upgrade and prints its summary.
func step(ctx context.Context, out io.Writer, svc *supervisor.Handle, title string, plan upgrade.Plan) error {
	rep, err := svc.Upgrade(ctx, plan)
	if err != nil {
		return fmt.Errorf("%s: %w", title, err)
	}
	fmt.Fprintf(out, "%s: %v, %d processes, max pause %v\n", title, rep.Outcome, len(rep.Processes), rep.MaxPause.Round(time.Millisecond))
	return nil
}

// loadVersion loads visits@version from path, building the executable
// first when path is empty.
func loadVersion(ctx context.Context, sys *actor.System, l *plugin.Loader, path, version, dir string) (*actor.Version, error) {
	if path == "" {
		path = filepath.Join(dir, "visits-"+version)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", path, "github.com/graftrt/graft/examples/plugin/"+version)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %w\n%s", version, err, b)
		}
	}
	// In production the checksum comes from the build pipeline, not from
	// the file about to be run; here both are on this machine.
	sum, err := plugin.Checksum(path)
	if err != nil {
		return nil, err
	}
	return l.Load(ctx, sys, upgrade.Ref{Module: visits.Module, Version: version, Path: path, Checksum: sum})
}

// decodeReport reads a report: a Go value from v1, JSON bytes (codec.Raw)
// from a plugin version.
func decodeReport(r any) (visits.Report, error) {
	if rep, ok := r.(visits.Report); ok {
		return rep, nil
	}
	var rep visits.Report
	e, ok := r.(actor.Encoded)
	if !ok {
		return rep, fmt.Errorf("unexpected reply %T", r)
	}
	return rep, e.Decode(&rep)
}

// load is the traffic: two senders, each numbering its visits per process.
type load struct {
	sent atomic.Int64
	done chan struct{}
	wg   sync.WaitGroup
}

func startLoad(sys *actor.System, children []supervisor.ChildInfo, rate int) *load {
	l := &load{done: make(chan struct{})}
	pages := []string{"/", "/docs", "/blog", "/about"}
	const senders = 2
	for s := range senders {
		l.wg.Go(func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			perTick := max(rate/senders/1000, 1)
			seq := make([]uint64, len(children))
			for n := 0; ; n++ {
				select {
				case <-l.done:
					return
				case <-tick.C:
				}
				for k := range perTick {
					i := (n*perTick + k) % len(children)
					seq[i]++
					msg := visits.Msg{Page: pages[(n+k)%len(pages)], Sender: s + 1, Seq: seq[i]}
					if sys.Send(children[i].PID, msg) == nil {
						l.sent.Add(1)
					}
				}
			}
		})
	}
	return l
}

func (l *load) stop() int64 {
	close(l.done)
	l.wg.Wait()
	return l.sent.Load()
}
