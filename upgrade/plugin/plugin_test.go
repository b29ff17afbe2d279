package plugin_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
	"github.com/graftrt/graft/upgrade/plugin"
	"github.com/graftrt/graft/upgrade/plugin/codec"
	"github.com/graftrt/graft/upgrade/plugin/plugintest"
)

// The host's view of module "tally" (see testdata/tally): the compiled-in
// v1 and the messages every version understands.
type (
	Msg struct {
		Sender int
		Seq    uint64
		Op     string
		Path   string
	}
	Stats struct {
		Version    string
		Handled    int64
		OutOfOrder int64
		Migrations []string
	}
	StateV1 struct {
		Count      int
		Last       map[int]uint64
		OutOfOrder int
	}
)

var tallyV1 = actor.Define("tally", "v1", actor.Funcs[StateV1]{
	Init: func(*actor.Context, any) (StateV1, error) { return StateV1{Last: map[int]uint64{}}, nil },
	Handle: func(ctx *actor.Context, s StateV1, msg any) (StateV1, error) {
		m := msg.(Msg)
		switch m.Op {
		case "":
			s.Count++
			if m.Seq != s.Last[m.Sender]+1 {
				s.OutOfOrder++
			}
			s.Last[m.Sender] = max(s.Last[m.Sender], m.Seq)
		case "get":
			ctx.Reply(Stats{Version: "v1", Handled: int64(s.Count), OutOfOrder: int64(s.OutOfOrder)})
		}
		return s, nil
	},
})

func newSys(t *testing.T) *actortest.System {
	return actortest.NewSystem(t)
}

func load(t *testing.T, sys *actortest.System, l *plugin.Loader, bin, module, version string) *actor.Version {
	t.Helper()
	v, err := l.Load(context.Background(), sys.System, bins[bin].Ref(module, version))
	require.NoError(t, err)
	return v
}

// stats asks pid for its Stats: a Go value from v1, a codec.Raw from a
// plugin version.
func stats(t *testing.T, sys *actortest.System, pid actor.PID) Stats {
	t.Helper()
	// Behind whatever the load left queued.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := sys.Call(ctx, pid, Msg{Op: "get"})
	require.NoError(t, err)
	if raw, ok := r.(codec.Raw); ok {
		s, err := codec.Decode[Stats](raw)
		require.NoError(t, err)
		return s
	}
	return r.(Stats)
}

func osPID(t *testing.T, sys *actortest.System, version string) int {
	t.Helper()
	for _, p := range plugin.Processes(sys.System) {
		if p.Version == version {
			return p.OSPID
		}
	}
	t.Fatalf("no plugin version %s", version)
	return 0
}

// fleet is a one_for_one supervisor over n "tally" workers.
func fleet(t *testing.T, sys *actortest.System, n int) (*supervisor.Handle, []actor.PID) {
	t.Helper()
	specs := make([]supervisor.ChildSpec, n)
	for i := range specs {
		specs[i] = supervisor.ChildSpec{ID: fmt.Sprint("w", i), Start: supervisor.StartSpec{Module: "tally"}}
	}
	h, err := supervisor.Start(sys.System, supervisor.Flags{Strategy: supervisor.OneForOne, Intensity: 10, Period: time.Minute}, specs)
	require.NoError(t, err)
	children, err := h.WhichChildren(context.Background())
	require.NoError(t, err)
	pids := make([]actor.PID, n)
	for i, c := range children {
		pids[i] = c.PID
	}
	return h, pids
}

// traffic sends numbered messages from senders to every pid until stopped
// and returns how many each pid was sent.
func traffic(t *testing.T, sys *actortest.System, pids []actor.PID, senders int) (stop func() []int64) {
	sent := make([]atomic.Int64, len(pids))
	done := make(chan struct{})
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			// One round to every pid per tick: steady load that a loaded
			// CI machine under -race still keeps up with.
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for seq := uint64(1); ; seq++ {
				for i, pid := range pids {
					if err := sys.Send(pid, Msg{Sender: s, Seq: seq}); err != nil {
						t.Errorf("send: %v", err)
						return
					}
					sent[i].Add(1)
				}
				select {
				case <-done:
					return
				case <-tick.C:
				}
			}
		})
	}
	return func() []int64 {
		close(done)
		wg.Wait()
		out := make([]int64, len(pids))
		for i := range sent {
			out[i] = sent[i].Load()
		}
		return out
	}
}

func upgradeTo(t *testing.T, h *supervisor.Handle, v *actor.Version, mode upgrade.Mode) *upgrade.Report {
	t.Helper()
	rep, err := h.Upgrade(context.Background(), upgrade.Plan{
		Mode: mode, Timeout: 20 * time.Second,
		Changes: []upgrade.Change{{Module: "tally", To: v}},
	})
	require.NoError(t, err)
	return rep
}

func TestNativeToPluginV2ToPluginV3UnderLoad(t *testing.T) {
	sys := newSys(t)
	l := plugin.NewLoader()
	require.NoError(t, sys.Load(tallyV1))
	h, pids := fleet(t, sys, 20)
	stop := traffic(t, sys, pids, 4)

	v2 := load(t, sys, l, "tally-v2", "tally", "v2")
	rep := upgradeTo(t, h, v2, upgrade.Atomic)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	v2pid := osPID(t, sys, "v2")
	require.True(t, plugintest.Running(v2pid))

	v3 := load(t, sys, l, "tally-v3", "tally", "v3")
	rep = upgradeTo(t, h, v3, upgrade.Atomic)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	sent := stop()

	for i, pid := range pids {
		s := stats(t, sys, pid)
		assert.Equal(t, "v3", s.Version)
		assert.Equal(t, sent[i], s.Handled, "worker %d: every message handled once, across three versions", i)
		assert.Zero(t, s.OutOfOrder, "worker %d: per-sender order kept", i)
		assert.Equal(t, []string{"v1>v2", "v2>v3"}, s.Migrations)
	}
	assert.False(t, plugintest.Running(v2pid), "v2's process exits once its last activation ended")
	assert.Zero(t, osPID(t, sys, "v2"))
	assert.Zero(t, sys.DeadLetters())
}

func TestEveryModeAndDowngradeThroughPlugins(t *testing.T) {
	sys := newSys(t)
	l := plugin.NewLoader()
	require.NoError(t, sys.Load(tallyV1))
	h, pids := fleet(t, sys, 8)
	for _, pid := range pids {
		for seq := uint64(1); seq <= 3; seq++ {
			require.NoError(t, sys.Send(pid, Msg{Sender: 1, Seq: seq}))
		}
	}
	v2 := load(t, sys, l, "tally-v2", "tally", "v2")
	v3 := load(t, sys, l, "tally-v3", "tally", "v3")

	rep, err := h.Upgrade(context.Background(), upgrade.Plan{DryRun: true, Timeout: 20 * time.Second,
		Changes: []upgrade.Change{{Module: "tally", To: v2}}})
	require.NoError(t, err)
	assert.Equal(t, upgrade.Simulated, rep.Outcome)
	assert.Equal(t, "v1", stats(t, sys, pids[0]).Version, "a dry run changes nothing")

	// Canary: a quarter first, then the rest, each gate passed on the
	// fake clock.
	waves := make(chan upgrade.WaveCommitted, 4)
	defer sys.Subscribe(func(e actor.Event) {
		if w, ok := e.(upgrade.WaveCommitted); ok {
			waves <- w
		}
	})()
	result := make(chan error, 1)
	go func() {
		rep, err := h.Upgrade(context.Background(), upgrade.Plan{Mode: upgrade.Rolling, Waves: []float64{0.25, 1},
			Timeout: 20 * time.Second, Changes: []upgrade.Change{{Module: "tally", To: v2}}})
		if err == nil && rep.Outcome != upgrade.Committed {
			err = fmt.Errorf("outcome %v", rep.Outcome)
		}
		result <- err
	}()
	w := <-waves
	assert.Equal(t, 2, w.Processes, "the canary wave")
	require.NoError(t, sys.Clock.WaitForTimers(context.Background(), 1))
	sys.Clock.Advance(time.Second)
	require.NoError(t, <-result)

	// Lazy to v3: each process migrates on its next message.
	committed := make(chan struct{})
	cancel := sys.Subscribe(func(e actor.Event) {
		if _, ok := e.(upgrade.UpgradeCommitted); ok {
			close(committed)
		}
	})
	lazy := make(chan *upgrade.Report, 1)
	go func() { lazy <- upgradeTo(t, h, v3, upgrade.Lazy) }()
	<-committed
	cancel()
	for _, pid := range pids {
		require.NoError(t, sys.Send(pid, Msg{Op: "nothing"}))
	}
	assert.Equal(t, upgrade.Converged, (<-lazy).Outcome)
	s := stats(t, sys, pids[0])
	assert.Equal(t, Stats{Version: "v3", Handled: 3, Migrations: []string{"v1>v2", "v2>v3"}}, s)

	// Down to v2 (plugin to plugin), then to the compiled-in v1, whose
	// typed state is decoded from the plugin's bytes.
	rep = upgradeTo(t, h, v2, upgrade.Atomic)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	assert.Equal(t, []string{"v1>v2", "v2>v3", "v3>v2"}, stats(t, sys, pids[0]).Migrations)
	rep = upgradeTo(t, h, tallyV1, upgrade.Atomic)
	assert.Equal(t, upgrade.Committed, rep.Outcome)
	for _, pid := range pids {
		require.NoError(t, sys.Send(pid, Msg{Sender: 1, Seq: 4}))
		assert.Equal(t, Stats{Version: "v1", Handled: 4}, stats(t, sys, pid), "state survived the round trip, order included")
	}
	assert.Zero(t, osPID(t, sys, "v2"), "no process left on v2 (the previous version): its plugin process stopped")
	for _, p := range plugin.Processes(sys.System) {
		assert.NotEqual(t, "v3", p.Version, "v3 is neither current nor previous: it left the module table and the registry")
	}
	assert.EqualValues(t, -1, sys.Activations("tally", "v3"))
}

func TestChecksumMismatchIsRefused(t *testing.T) {
	sys := newSys(t)
	before := plugintest.Children()
	ref := bins["tally-v2"].Ref("tally", "v2")
	ref.Checksum = bins["tally-v3"].Checksum
	_, err := plugin.NewLoader().Load(context.Background(), sys.System, ref)
	require.ErrorIs(t, err, plugin.ErrChecksum)
	_, loaded := sys.Current("tally")
	assert.False(t, loaded)
	assert.Empty(t, plugin.Processes(sys.System))
	assert.Equal(t, before, plugintest.Children(), "nothing was started")
}

func TestBadReferencesAndLyingHandshakesAreRefused(t *testing.T) {
	sys := newSys(t)
	l := plugin.NewLoader()
	before := plugintest.Children()
	script := filepath.Join(t.TempDir(), "not-a-plugin")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\necho 'hello, I am not a plugin'\n"), 0o755))
	scriptSum, err := plugin.Checksum(script)
	require.NoError(t, err)

	noSum := bins["tally-v2"].Ref("tally", "v2")
	noSum.Checksum = ""
	for name, c := range map[string]struct {
		ref  upgrade.Ref
		want error
	}{
		"no checksum":            {noSum, upgrade.ErrInvalidRef},
		"no such file":           {upgrade.Ref{Module: "tally", Version: "v2", Path: "/nonexistent", Checksum: bins["tally-v2"].Checksum}, upgrade.ErrInvalidRef},
		"no module":              {bins["tally-v2"].Ref("", "v2"), upgrade.ErrInvalidRef},
		"serves another module":  {bins["tally-other"].Ref("tally", "v2"), plugin.ErrHandshake},
		"serves another version": {bins["tally-v3"].Ref("tally", "v2"), plugin.ErrHandshake},
		"another protocol":       {bins["rogue-protocol"].Ref("rogue", "v1"), plugin.ErrHandshake},
		"not a plugin":           {upgrade.Ref{Module: "x", Version: "v1", Path: script, Checksum: scriptSum}, plugin.ErrHandshake},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := l.Load(context.Background(), sys.System, c.ref)
			assert.ErrorIs(t, err, c.want)
		})
	}
	assert.Empty(t, plugin.Processes(sys.System))
	assert.Empty(t, sys.Modules(), "nothing was loaded")
	assert.Equal(t, before, plugintest.Children(), "every process started for a handshake is gone")

	// The same module and version from another file is a conflict; the
	// same reference again is the same version.
	v2 := load(t, sys, l, "tally-v2", "tally", "v2")
	again := load(t, sys, l, "tally-v2", "tally", "v2")
	assert.Same(t, v2, again)
	_, err = l.Load(context.Background(), sys.System, bins["tally-v2-gob"].Ref("tally", "v2"))
	assert.ErrorIs(t, err, actor.ErrVersionConflict)
}

func TestSIGKILLMidBatchLosesOnlyTheBatch(t *testing.T) {
	sys := newSys(t)
	l := plugin.NewLoader()
	require.NoError(t, sys.Load(load(t, sys, l, "tally-v2", "tally", "v2")))
	_, pids := fleet(t, sys, 2)
	victim, bystander := pids[0], pids[1]
	for seq := uint64(1); seq <= 5; seq++ {
		require.NoError(t, sys.Send(bystander, Msg{Sender: 1, Seq: seq}))
	}
	require.Equal(t, int64(5), stats(t, sys, bystander).Handled)

	var mu sync.Mutex
	var letters []actor.DeadLetter
	defer sys.Subscribe(func(e actor.Event) {
		if d, ok := e.(actor.DeadLetter); ok {
			mu.Lock()
			letters = append(letters, d)
			mu.Unlock()
		}
	})()
	restarted := make(chan actor.PID, 1)
	defer sys.Subscribe(func(e actor.Event) {
		if s, ok := e.(supervisor.ChildStarted); ok && s.Restart {
			restarted <- s.PID
		}
	})()
	w := sys.Watch(victim)
	procs := make(chan any, 8)
	defer sys.Subscribe(func(e actor.Event) {
		switch e.(type) {
		case upgrade.LoaderProcessStarted, upgrade.LoaderProcessStopped:
			procs <- e
		}
	})()

	// Queue a batch: a message that parks the plugin, then ten more.
	ctx := context.Background()
	require.NoError(t, sys.Suspend(ctx, victim))
	parked := filepath.Join(t.TempDir(), "parked")
	require.NoError(t, sys.Send(victim, Msg{Op: "park", Path: parked}))
	for seq := uint64(1); seq <= 10; seq++ {
		require.NoError(t, sys.Send(victim, Msg{Sender: 1, Seq: seq}))
	}
	require.NoError(t, sys.Resume(ctx, victim))
	require.Eventually(t, func() bool { _, err := os.Stat(parked); return err == nil }, actortest.DefaultWait, time.Millisecond)
	old := osPID(t, sys, "v2")
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))

	<-w.Done()
	assert.ErrorIs(t, w.Reason(), plugin.ErrCrashed)
	replacement := <-restarted
	assert.Equal(t, Stats{Version: "v2"}, stats(t, sys, replacement), "restarted, on a new plugin process")
	assert.NotEqual(t, old, osPID(t, sys, "v2"))
	stopped := (<-procs).(upgrade.LoaderProcessStopped)
	assert.Equal(t, old, stopped.OSPID)
	assert.ErrorIs(t, stopped.Reason, plugin.ErrCrashed)
	assert.Equal(t, upgrade.LoaderProcessStarted{Module: "tally", Version: "v2", OSPID: osPID(t, sys, "v2")}, <-procs,
		"the replacement is reported (the metrics count restarts by it)")
	mu.Lock()
	assert.Len(t, letters, 11, "the whole batch in flight is reported")
	for _, d := range letters {
		assert.Equal(t, victim, d.To)
		assert.ErrorIs(t, d.Reason, plugin.ErrCrashed)
	}
	mu.Unlock()
	assert.Equal(t, int64(5), stats(t, sys, bystander).Handled, "a process with nothing in flight keeps its state")
}

func TestHungPluginMeetsTheDeadline(t *testing.T) {
	sys := newSys(t)
	l := plugin.NewLoader(plugin.WithCallTimeout(time.Second))
	require.NoError(t, sys.Load(load(t, sys, l, "tally-v2", "tally", "v2")))
	pid, err := sys.Spawn("tally", nil)
	require.NoError(t, err)
	hung := osPID(t, sys, "v2")
	w := sys.Watch(pid)
	require.NoError(t, sys.Send(pid, Msg{Op: "hang"}))
	<-w.Done()
	assert.ErrorIs(t, w.Reason(), plugin.ErrDeadline)
	assert.False(t, plugintest.Running(hung), "a hung plugin process is killed")

	pid, err = sys.Spawn("tally", nil)
	require.NoError(t, err)
	assert.Equal(t, "v2", stats(t, sys, pid).Version)
	assert.NotEqual(t, hung, osPID(t, sys, "v2"))
}

func TestGarbageFromAPluginIsAnExitReason(t *testing.T) {
	sys := newSys(t)
	l := plugin.NewLoader()
	require.NoError(t, sys.Load(load(t, sys, l, "rogue-garbage", "rogue", "v1")))
	pid, err := sys.Spawn("rogue", nil)
	require.NoError(t, err)
	liar := osPID(t, sys, "v1")
	w := sys.Watch(pid)
	require.NoError(t, sys.Send(pid, "anything"))
	<-w.Done()
	assert.ErrorIs(t, w.Reason(), plugin.ErrBadResponse)
	assert.False(t, plugintest.Running(liar), "a plugin process that answered nonsense is killed")

	sys2 := newSys(t)
	require.NoError(t, sys2.Load(load(t, sys2, l, "rogue-codec", "rogue", "v1")))
	_, err = sys2.Spawn("rogue", nil)
	assert.ErrorIs(t, err, plugin.ErrBadResponse, "a state in an unknown codec")
}

func TestHandlerErrorsStopOnlyTheirProcess(t *testing.T) {
	sys := newSys(t)
	require.NoError(t, sys.Load(load(t, sys, plugin.NewLoader(), "tally-v2", "tally", "v2")))
	for op, check := range map[string]func(error){
		"fail": func(err error) {
			var he *plugin.HandlerError
			require.ErrorAs(t, err, &he)
			assert.False(t, he.Panic)
			assert.Contains(t, he.Message, "asked to fail")
		},
		"panic": func(err error) {
			var he *plugin.HandlerError
			require.ErrorAs(t, err, &he)
			assert.True(t, he.Panic)
			assert.Contains(t, he.Stack, "main.handle")
		},
		"stop": func(err error) { assert.Equal(t, actor.Normal, err) },
	} {
		pid, err := sys.Spawn("tally", nil)
		require.NoError(t, err)
		w := sys.Watch(pid)
		require.NoError(t, sys.Send(pid, Msg{Op: op}))
		<-w.Done()
		check(w.Reason())
	}
	before := osPID(t, sys, "v2")
	pid, err := sys.Spawn("tally", nil)
	require.NoError(t, err)
	assert.Equal(t, "v2", stats(t, sys, pid).Version)
	assert.Equal(t, before, osPID(t, sys, "v2"), "the plugin process survived its handlers' failures")
}

func TestOldPluginProcessExitsAfterItsLastActivation(t *testing.T) {
	sys := newSys(t)
	l := plugin.NewLoader()
	require.NoError(t, sys.Load(load(t, sys, l, "tally-v2", "tally", "v2")))
	a, err := sys.Spawn("tally", nil)
	require.NoError(t, err)
	b, err := sys.Spawn("tally", nil)
	require.NoError(t, err)
	v2pid := osPID(t, sys, "v2")

	require.NoError(t, sys.Load(load(t, sys, l, "tally-v3", "tally", "v3"))) // lazy
	assert.Equal(t, "v3", stats(t, sys, a).Version)
	assert.True(t, plugintest.Running(v2pid), "b still runs v2")
	assert.Equal(t, "v3", stats(t, sys, b).Version)
	assert.False(t, plugintest.Running(v2pid), "b was v2's last activation")
}

func TestNoPluginProcessOutlivesShutdown(t *testing.T) {
	sys := newSys(t)
	before := plugintest.Children()
	l := plugin.NewLoader()
	require.NoError(t, sys.Load(load(t, sys, l, "tally-v2", "tally", "v2")))
	load(t, sys, l, "tally-v3", "tally", "v3") // staged, running
	for range 3 {
		_, err := sys.Spawn("tally", nil)
		require.NoError(t, err)
	}
	var running []int
	for _, p := range plugin.Processes(sys.System) {
		require.True(t, plugintest.Running(p.OSPID))
		running = append(running, p.OSPID)
	}
	require.Len(t, running, 2)
	require.NoError(t, sys.Shutdown(context.Background()))
	for _, pid := range running {
		assert.False(t, plugintest.Running(pid), "plugin process %d", pid)
	}
	assert.Equal(t, before, plugintest.Children())
	_, err := l.Load(context.Background(), sys.System, bins["tally-v2"].Ref("tally", "v2"))
	assert.ErrorIs(t, err, plugin.ErrUnavailable, "a stopped system starts no plugin")
}

func TestPluginFailingDuringUpgradeRollsBack(t *testing.T) {
	sys := newSys(t)
	require.NoError(t, sys.Load(tallyV1))
	h, pids := fleet(t, sys, 5)
	for _, pid := range pids {
		require.NoError(t, sys.Send(pid, Msg{Sender: 1, Seq: 1}))
	}
	v2 := load(t, sys, plugin.NewLoader(), "tally-v2-exits", "tally", "v2")
	rep, err := h.Upgrade(context.Background(), upgrade.Plan{Changes: []upgrade.Change{{Module: "tally", To: v2}}})
	require.Error(t, err)
	assert.Equal(t, upgrade.RolledBack, rep.Outcome)
	assert.NotEmpty(t, rep.Failed())
	for _, f := range rep.Failed() {
		assert.ErrorIs(t, f.Err, plugin.ErrCrashed)
	}
	for _, pid := range pids {
		assert.Equal(t, Stats{Version: "v1", Handled: 1}, stats(t, sys, pid), "old version, state intact")
	}
}

func TestRestartBackoffAndAReplacedExecutable(t *testing.T) {
	sys := newSys(t)
	dir := t.TempDir()
	exe, err := plugintest.Build(dir, "tally", "./testdata/tally", map[string]string{"main.version": "v2"})
	require.NoError(t, err)
	l := plugin.NewLoader(plugin.WithBackoff(time.Second, 4*time.Second))
	require.NoError(t, sys.Load(load2(t, sys, l, exe.Ref("tally", "v2"))))
	pid, err := sys.Spawn("tally", nil)
	require.NoError(t, err)

	// Someone swaps the file for another build, and the process dies: the
	// restart verifies the checksum again and refuses it.
	other, err := os.ReadFile(bins["tally-v3"].Path)
	require.NoError(t, err)
	require.NoError(t, os.Remove(exe.Path))
	require.NoError(t, os.WriteFile(exe.Path, other, 0o755))
	require.NoError(t, syscall.Kill(osPID(t, sys, "v2"), syscall.SIGKILL))
	w := sys.Watch(pid)
	require.NoError(t, sys.Send(pid, Msg{Sender: 1, Seq: 1}))
	<-w.Done()
	assert.ErrorIs(t, w.Reason(), plugin.ErrCrashed)

	_, err = sys.Spawn("tally", nil)
	assert.ErrorIs(t, err, plugin.ErrChecksum, "first restart: at once, refused")
	_, err = sys.Spawn("tally", nil)
	assert.ErrorIs(t, err, plugin.ErrUnavailable, "within the backoff, no attempt")
	sys.Clock.Advance(time.Second)
	_, err = sys.Spawn("tally", nil)
	assert.ErrorIs(t, err, plugin.ErrChecksum, "after the backoff, a new attempt")
	sys.Clock.Advance(time.Second)
	_, err = sys.Spawn("tally", nil)
	assert.ErrorIs(t, err, plugin.ErrUnavailable, "the backoff doubled")
}

func load2(t *testing.T, sys *actortest.System, l *plugin.Loader, ref upgrade.Ref) *actor.Version {
	t.Helper()
	v, err := l.Load(context.Background(), sys.System, ref)
	require.NoError(t, err)
	return v
}

func TestCodecs(t *testing.T) {
	sys := newSys(t)
	l := plugin.NewLoader()
	require.NoError(t, sys.Load(load(t, sys, l, "pbtally", "pbtally", "v1")))
	pid, err := sys.Spawn("pbtally", nil)
	require.NoError(t, err)
	for _, add := range []int64{5, 7} {
		r, err := sys.Call(context.Background(), pid, wrapperspb.Int64(add))
		require.NoError(t, err)
		assert.Equal(t, "protobuf", r.(codec.Raw).Codec)
		got, err := codec.Decode[*wrapperspb.Int64Value](r.(codec.Raw))
		require.NoError(t, err)
		assert.Positive(t, got.GetValue())
	}
	r, _ := sys.Call(context.Background(), pid, wrapperspb.Int64(0))
	got, _ := codec.Decode[*wrapperspb.Int64Value](r.(codec.Raw))
	assert.Equal(t, int64(12), got.GetValue())
	w := sys.Watch(pid)
	require.NoError(t, sys.Send(pid, "not a protobuf message"))
	<-w.Done()
	assert.ErrorIs(t, w.Reason(), plugin.ErrEncode)

	require.NoError(t, sys.Load(tallyV1))
	a, err := sys.Spawn("tally", nil)
	require.NoError(t, err)
	require.NoError(t, sys.Send(a, Msg{Sender: 1, Seq: 1}))
	require.NoError(t, sys.Load(load(t, sys, l, "tally-v2-gob", "tally", "v2")))
	s := stats(t, sys, a)
	assert.Equal(t, Stats{Version: "v2", Handled: 1, Migrations: []string{"v1>v2"}}, s, "migrated through gob")
}

func TestLargeMessagesUpToTheBound(t *testing.T) {
	sys := newSys(t)
	require.NoError(t, sys.Load(load(t, sys, plugin.NewLoader(), "tally-v2", "tally", "v2")))
	pid, err := sys.Spawn("tally", nil)
	require.NoError(t, err)
	before := osPID(t, sys, "v2")
	require.NoError(t, sys.Send(pid, Msg{Sender: 1, Seq: 1, Path: strings.Repeat("x", 10<<20)}))
	assert.Equal(t, int64(1), stats(t, sys, pid).Handled, "10 MiB, over gRPC's default bound")

	w := sys.Watch(pid)
	require.NoError(t, sys.Send(pid, Msg{Sender: 1, Seq: 2, Path: strings.Repeat("x", 65<<20)}))
	<-w.Done()
	assert.ErrorIs(t, w.Reason(), plugin.ErrEncode)
	assert.Equal(t, before, osPID(t, sys, "v2"), "not the plugin's fault: it lives on")
}

// actAsHost is the test binary run as a host process: it loads the plugin
// at exe as tally@v2, prints the plugin's OS PID and waits to be killed.
func actAsHost(exe string) {
	sum, err := plugin.Checksum(exe)
	if err == nil {
		sys := actor.NewSystem()
		_, err = plugin.NewLoader().Load(context.Background(), sys,
			upgrade.Ref{Module: "tally", Version: "v2", Path: exe, Checksum: sum})
		if err == nil {
			fmt.Println(plugin.Processes(sys)[0].OSPID)
			select {}
		}
	}
	fmt.Println("error:", err)
	os.Exit(1)
}

func TestPluginExitsWhenItsHostIsKilled(t *testing.T) {
	host := exec.Command(os.Args[0], "-test.run=^$")
	host.Env = append(os.Environ(), "GRAFT_TEST_HOST_PLUGIN="+bins["tally-v2"].Path)
	out, err := host.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, host.Start())
	var pluginPID int
	_, err = fmt.Fscan(out, &pluginPID)
	require.NoError(t, err)
	require.True(t, plugintest.Running(pluginPID))

	require.NoError(t, host.Process.Kill()) // no Shutdown, no cleanup
	_ = host.Wait()
	// The orphan notices within its one-second poll; allow for a slow
	// machine.
	require.Eventually(t, func() bool { return !plugintest.Running(pluginPID) }, 10*time.Second, 10*time.Millisecond,
		"plugin %d outlived its host", pluginPID)
}

func TestPluginEnvironmentIsOnlyWhatItIsGiven(t *testing.T) {
	t.Setenv("GRAFT_HOST_SECRET", "s3cret")
	for name, c := range map[string]struct {
		opts []plugin.Option
		want []string
	}{
		"default": {nil, nil},
		"WithEnv": {[]plugin.Option{plugin.WithEnv("REGION=eu")}, []string{"REGION=eu"}},
		"no mTLS": {[]plugin.Option{plugin.WithoutMTLS()}, nil},
		"batch 1": {[]plugin.Option{plugin.WithMaxBatch(1)}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			sys := newSys(t)
			require.NoError(t, sys.Load(load(t, sys, plugin.NewLoader(c.opts...), "tally-v2", "tally", "v2")))
			pid, err := sys.Spawn("tally", nil)
			require.NoError(t, err)
			for seq := uint64(1); seq <= 20; seq++ {
				require.NoError(t, sys.Send(pid, Msg{Sender: 1, Seq: seq}))
			}
			assert.Equal(t, Stats{Version: "v2", Handled: 20}, stats(t, sys, pid))
			r, err := sys.Call(context.Background(), pid, Msg{Op: "env"})
			require.NoError(t, err)
			env, err := codec.Decode[[]string](r.(codec.Raw))
			require.NoError(t, err)
			for _, kv := range env {
				assert.NotContains(t, kv, "s3cret", "the host's environment does not leak")
			}
			for _, kv := range c.want {
				assert.Contains(t, env, kv)
			}
		})
	}
}

func TestStartTimeout(t *testing.T) {
	sys := newSys(t)
	before := plugintest.Children()
	script := filepath.Join(t.TempDir(), "silent")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755))
	sum, err := plugin.Checksum(script)
	require.NoError(t, err)
	l := plugin.NewLoader(plugin.WithStartTimeout(300 * time.Millisecond))
	_, err = l.Load(context.Background(), sys.System, upgrade.Ref{Module: "x", Version: "v1", Path: script, Checksum: sum})
	assert.ErrorIs(t, err, plugin.ErrHandshake)
	assert.Equal(t, before, plugintest.Children(), "the silent process was killed")
}
