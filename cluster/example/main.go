// Command example is a cluster of four Graft nodes on one machine: this
// process coordinates, and runs three node processes (itself, with -node).
// Each node runs 100 counters on v1 under a supervisor. Under load, a
// cluster-wide upgrade to v2 loses a node midway (killed with SIGKILL
// before its wave) and rolls back; a second upgrade, of the nodes left,
// commits. Then the books: every increment sent to a node that lived was
// handled; for the node that died, what the coordinator reports lost.
//
//	make cluster-demo    (or: cd cluster && go run ./example)
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/clusteradmin"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

const cookie = "graft-demo"

func main() {
	node := flag.String("node", "", "run as this node (name@host); the coordinator starts these")
	reg := flag.Uint("registrar", 0, "registrar port (node mode)")
	counters := flag.Int("counters", 100, "counters per node")
	load := flag.Duration("load", time.Second, "how long the load runs before and between the upgrades")
	adminAddr := flag.String("admin", "", "after the books, serve the admin API with the cluster's endpoints here (127.0.0.1:8470) until interrupted")
	flag.Parse()
	var err error
	if *node != "" {
		err = runNode(*node, uint16(*reg), *counters)
	} else {
		var self string
		if self, err = os.Executable(); err == nil {
			var hold func(*cluster.Node) error
			if *adminAddr != "" {
				hold = func(n *cluster.Node) error { return serveAdmin(os.Stdout, n, *adminAddr) }
			}
			_, err = run(os.Stdout, self, *counters, *load, hold)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// Inc is what the load sends; counters answer any call with their count.
// (int64, which crosses nodes without registration.)

// versions returns the module "counter": v1 counts in an int64; v2 keeps
// the count and when it was migrated, and goes back to v1 by its Downgrade.
func versions() (v1, v2 *actor.Version) {
	v1 = actor.Define("counter", "v1", actor.Funcs[int64]{
		Handle: func(ctx *actor.Context, n int64, msg any) (int64, error) {
			if ctx.IsCall() {
				ctx.Reply(n)
				return n, nil
			}
			return n + 1, nil
		},
	})
	type stateV2 struct {
		Count    int64
		Migrated time.Time
	}
	v2 = actor.Define("counter", "v2", actor.Funcs[stateV2]{
		Follows: "v1",
		Handle: func(ctx *actor.Context, s stateV2, msg any) (stateV2, error) {
			if ctx.IsCall() {
				ctx.Reply(s.Count)
				return s, nil
			}
			s.Count++
			return s, nil
		},
		CodeChange: actor.Migrate(func(n int64, _ any) (stateV2, error) { return stateV2{Count: n, Migrated: time.Now()}, nil }),
		Downgrade:  func(to string, s stateV2, _ any) (any, error) { return s.Count, nil },
	})
	return v1, v2
}

// runNode is one node process: counters under a supervisor, serving
// cluster-wide upgrades, until standard input closes.
func runNode(name string, reg uint16, counters int) error {
	sys := actor.NewSystem()
	n, err := cluster.Join(sys, cluster.Options{Name: name, Cookie: cookie, Registrar: cluster.Registrar{Port: reg, ClientOnly: true}})
	if err != nil {
		return err
	}
	v1, v2 := versions()
	if err := sys.Load(v1); err != nil {
		return err
	}
	var specs []supervisor.ChildSpec
	for i := range counters {
		id := fmt.Sprint("counter-", i)
		specs = append(specs, supervisor.ChildSpec{ID: id, Start: supervisor.StartSpec{Module: "counter", Options: []actor.SpawnOption{actor.WithName(id)}}})
	}
	top, err := supervisor.Start(sys, supervisor.Flags{Strategy: supervisor.OneForOne}, specs)
	if err != nil {
		return err
	}
	if _, err := n.ServeUpgrades(top, upgrade.NewNative(v1, v2)); err != nil {
		return err
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return sys.Shutdown(ctx)
}

// Books is what the coordinator counted, per node.
type Books struct {
	Sent, Refused, Handled, Lost map[string]int64
	First, Second                *cluster.ClusterReport
}

// run is the coordinator: nodes, load, the two upgrades, the books; then
// hold, if set, while the nodes left still run.
func run(out io.Writer, self string, counters int, load time.Duration, hold func(*cluster.Node) error) (*Books, error) {
	reg, err := freePort()
	if err != nil {
		return nil, err
	}
	log, _ := zap.NewDevelopment(zap.IncreaseLevel(zap.ErrorLevel))
	sys := actor.NewSystem(actor.WithLogger(log))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sys.Shutdown(ctx)
	}()
	coord, err := cluster.Join(sys, cluster.Options{
		Name: "demo@localhost", Cookie: cookie, Registrar: cluster.Registrar{Port: reg},
		NetTickTime: 4 * time.Second, // a dead node's unacknowledged sends are reported after this
	})
	if err != nil {
		return nil, err
	}
	names := []string{"b@localhost", "c@localhost", "d@localhost"}
	procs := map[string]*exec.Cmd{}
	defer func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}()
	fmt.Fprintf(out, "starting nodes %s (registrar on port %d)\n", strings.Join(names, ", "), reg)
	for _, name := range names {
		cmd, err := startNode(self, name, reg, counters)
		if err != nil {
			return nil, err
		}
		procs[name] = cmd
	}

	books := &Books{Sent: map[string]int64{}, Refused: map[string]int64{}, Handled: map[string]int64{}, Lost: map[string]int64{}}
	var mu sync.Mutex
	cLost := make(chan struct{}, 1)
	defer sys.Subscribe(func(e actor.Event) {
		switch e := e.(type) {
		case actor.DeadLetter: // an increment no counter took: count it for its node
			if tn, ok := e.Message.(cluster.ToName); ok {
				mu.Lock()
				books.Lost[tn.Name.Node]++
				mu.Unlock()
			}
		case cluster.SendsLost:
			if e.Node == "c@localhost" {
				select {
				case cLost <- struct{}{}:
				default:
				}
			}
		}
	})()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var rounds atomic.Int64
	wg.Go(func() { // the load: an increment to every counter of every node, a round a millisecond at most
		pace := time.NewTicker(time.Millisecond)
		defer pace.Stop()
		for {
			select {
			case <-stop:
				return
			case <-pace.C:
			}
			for _, node := range names {
				for i := range counters {
					select {
					case <-stop:
						return
					default:
					}
					err := coord.SendNamed(cluster.Name{Name: fmt.Sprint("counter-", i), Node: node}, int64(1))
					mu.Lock()
					if err != nil {
						books.Refused[node]++
					} else {
						books.Sent[node]++
					}
					mu.Unlock()
				}
			}
			rounds.Add(1)
		}
	})
	pace(load)

	fmt.Fprintln(out, "\nupgrade 1: counter v1 → v2 on b, c, d, one node per wave; c is killed before its wave")
	plan := upgrade.PlanSpec{Changes: []upgrade.ChangeSpec{{Module: "counter", Version: "v2"}}}
	books.First, err = coord.UpgradeCluster(context.Background(), cluster.ClusterUpgrade{
		Plan: plan, Nodes: names, WaveSize: 1,
		Gate: func(ctx context.Context, committed []string) error {
			if len(committed) == 1 {
				fmt.Fprintln(out, "  gate before wave 2: killing c@localhost (SIGKILL)")
				_ = procs["c@localhost"].Process.Kill()
				_ = procs["c@localhost"].Wait()
				delete(procs, "c@localhost")
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	printReport(out, books.First)
	pace(load)

	fmt.Fprintln(out, "\nupgrade 2: the same plan on the nodes left, b and d")
	books.Second, err = coord.UpgradeCluster(context.Background(), cluster.ClusterUpgrade{Plan: plan, Nodes: []string{"b@localhost", "d@localhost"}})
	if err != nil {
		return nil, err
	}
	printReport(out, books.Second)
	pace(load)
	close(stop)
	wg.Wait()

	// The books. A call to a counter arrives after everything sent to it.
	for _, node := range []string{"b@localhost", "d@localhost"} {
		for i := range counters {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			v, err := coord.CallNamed(ctx, cluster.Name{Name: fmt.Sprint("counter-", i), Node: node}, "count")
			cancel()
			if err != nil {
				return nil, err
			}
			books.Handled[node] += v.(int64)
		}
	}
	// c's unacknowledged sends are reported once the tick time has passed
	// without a word from it.
	// (None are reported if nothing sent to c was on its way when it died.)
	select {
	case <-cLost:
	case <-time.After(2 * 4 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(out, "\nthe books (%d rounds of load):\n", rounds.Load())
	for _, node := range []string{"b@localhost", "d@localhost"} {
		fmt.Fprintf(out, "  %s: sent %d = handled %d + reported lost %d; refused at send %d\n",
			node, books.Sent[node], books.Handled[node], books.Lost[node], books.Refused[node])
	}
	c := "c@localhost"
	fmt.Fprintf(out, "  %s: sent %d, refused at send after it died %d; reported lost (not taken when it died) %d; the rest died with it\n",
		c, books.Sent[c], books.Refused[c], books.Lost[c])
	if hold != nil {
		mu.Unlock() // the load has stopped; dead letters may still come
		err := hold(coord)
		mu.Lock()
		if err != nil {
			return nil, err
		}
	}
	return books, nil
}

// serveAdmin serves the coordinator's admin API at addr with the
// cluster's endpoints (package clusteradmin), prints the graft commands to
// try, and returns when interrupted.
func serveAdmin(out io.Writer, n *cluster.Node, addr string) error {
	srv, err := admin.Start(n.System(), admin.Options{Addr: addr, Node: n.Name()})
	if err != nil {
		return err
	}
	defer srv.Close(context.Background())
	api, err := clusteradmin.Mount(srv, n, clusteradmin.Options{Nodes: []string{"b@localhost", "d@localhost"}})
	if err != nil {
		return err
	}
	defer api.Close(context.Background())
	port := srv.URL()[strings.LastIndex(srv.URL(), ":")+1:]
	g := "bin/graft --addr " + strings.TrimPrefix(srv.URL(), "http://")
	if port == "8470" {
		g = "bin/graft"
	}
	fmt.Fprintf(out, "\nthe admin API of %s, with the cluster's endpoints: %s (token file %s)\n", n.Name(), srv.URL(), srv.TokenFile())
	fmt.Fprintf(out, "try, from another terminal (make build first):\n")
	fmt.Fprintf(out, "  %s --cluster status\n  %s --cluster modules\n  %s --cluster tree\n", g, g, g)
	fmt.Fprintf(out, "  %s --cluster downgrade --module counter --to v1 --nodes b@localhost,d@localhost\n", g)
	fmt.Fprintf(out, "Ctrl-C ends the demo\n")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}

// pace lets the load run for d: what the demo shows happens meanwhile.
func pace(d time.Duration) { time.Sleep(d) }

func printReport(out io.Writer, r *cluster.ClusterReport) {
	fmt.Fprintf(out, "  outcome: %s", r.Outcome)
	if r.Reason != "" {
		fmt.Fprintf(out, " (%s)", r.Reason)
	}
	fmt.Fprintln(out)
	for _, n := range r.Nodes {
		procs := 0
		if n.Commit != nil {
			procs = len(n.Commit.Procs)
		}
		fmt.Fprintf(out, "  %-12s %-12s processes %d", n.Node, n.Outcome, procs)
		if n.Rollback != nil {
			fmt.Fprintf(out, ", rollback %s", n.Rollback.Outcome)
		}
		if n.Err != "" {
			fmt.Fprintf(out, "  — %s", n.Err)
		}
		fmt.Fprintln(out)
	}
}

func startNode(self, name string, reg uint16, counters int) (*exec.Cmd, error) {
	cmd := exec.Command(self, "-node", name, "-registrar", fmt.Sprint(reg), "-counters", fmt.Sprint(counters))
	cmd.Stderr = os.Stderr
	if _, err := cmd.StdinPipe(); err != nil { // closed when this process exits
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("node %s did not start: %q %v", name, line, err)
	}
	return cmd, nil
}

func freePort() (uint16, error) {
	for range 20 {
		l, err := net.Listen("tcp", "localhost:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return uint16(port), nil
		}
	}
	return 0, errors.New("no free port")
}
