// Command testnode is one node of the cluster tests: it joins a cluster,
// loads the test modules (the counter with its message shapes declared),
// registers an "echo" process (and, with -letters, a "letters" process;
// with -chaos, the cluster chaos test's service, serving cluster chaos
// runs), prints "ready" and runs until its standard input closes (the
// test ended, or died).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/clusterchaos"
	"github.com/graftrt/graft/cluster/internal/testkit"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

func main() {
	name := flag.String("name", "", "node name, name@host")
	cookie := flag.String("cookie", "", "cluster cookie")
	reg := flag.Uint("registrar", cluster.DefaultRegistrarPort, "registrar port")
	badV2 := flag.Bool("bad-v2", false, "load a v2 of counter whose migration fails")
	counters := flag.Int("counters", 3, "counters under the supervisor")
	tick := flag.Duration("net-tick", 0, "the node's NetTickTime (0: the default)")
	letters := flag.Bool("letters", false, `run the process "letters", which records the node's dead letters`)
	chaosService := flag.Bool("chaos", false, "also run testkit.ChaosService and serve cluster chaos runs (clusterchaos.Serve)")
	flag.Parse()
	if err := run(*name, *cookie, uint16(*reg), *badV2, *counters, *tick, *letters, *chaosService); err != nil {
		fmt.Fprintln(os.Stderr, "testnode:", err)
		os.Exit(1)
	}
}

func run(name, cookie string, reg uint16, badV2 bool, counters int, tick time.Duration, letters, chaosService bool) error {
	level := zap.WarnLevel
	if chaosService {
		level = zap.DPanicLevel // the chaos run crashes processes all the time
	}
	log, err := zap.NewDevelopment(zap.IncreaseLevel(level))
	if err != nil {
		return err
	}
	sys := actor.NewSystem(actor.WithLogger(log))
	n, err := cluster.Join(sys, cluster.Options{
		Name: name, Cookie: cookie, Registrar: cluster.Registrar{Port: reg, ClientOnly: true}, NetTickTime: tick,
	})
	if err != nil {
		return err
	}
	if err := n.Register(testkit.Types()...); err != nil {
		return err
	}
	if err := sys.Load(testkit.Echo(n)); err != nil {
		return err
	}
	if _, err := sys.Spawn("echo", nil, actor.WithName("echo")); err != nil {
		return err
	}
	if letters {
		if err := sys.Load(testkit.LetterBook(sys)); err != nil {
			return err
		}
		if _, err := sys.Spawn("letters", nil, actor.WithName("letters")); err != nil {
			return err
		}
	}
	// Counters on v1 under a supervisor, upgraded by cluster-wide plans
	// through the node's agent; v2 is known, not loaded.
	v1, v2 := testkit.Counter(badV2)
	if err := sys.Load(v1); err != nil {
		return err
	}
	if err := testkit.DeclareCounter(n, v1, v2); err != nil {
		return err
	}
	var specs []supervisor.ChildSpec
	for i := range counters {
		specs = append(specs, supervisor.ChildSpec{
			ID:    fmt.Sprint("counter", i),
			Start: supervisor.StartSpec{Module: "counter", Options: []actor.SpawnOption{actor.WithName(fmt.Sprint("counter", i))}},
		})
	}
	top, err := supervisor.Start(sys, supervisor.Flags{Strategy: supervisor.OneForOne}, specs)
	if err != nil {
		return err
	}
	if _, err := n.ServeUpgrades(top, upgrade.NewNative(v1, v2)); err != nil {
		return err
	}
	if chaosService {
		root, cfg, err := testkit.ChaosService(sys)
		if err != nil {
			return err
		}
		cfg.Out = os.Stderr // each run's summary: shown when the test fails
		if _, err := clusterchaos.Serve(n, root, cfg); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return sys.Shutdown(ctx)
}
