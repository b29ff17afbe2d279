package handoff

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/supervisor"
)

// Module "blob" for the benchmark: about 1 KiB of state per process.
type (
	blobState struct {
		Data []byte
		N    int64
	}
	touch struct{}
	sync_ struct{}
)

func blobVersion(name, follows string, handled *atomic.Int64) *actor.Version {
	return actor.Define("blob", name, actor.Funcs[blobState]{
		Follows: follows,
		Codec:   actor.Gob,
		Types:   []any{touch{}, sync_{}},
		Init: func(ctx *actor.Context, args any) (blobState, error) {
			return blobState{Data: make([]byte, 1024)}, nil
		},
		Handle: func(ctx *actor.Context, s blobState, msg any) (blobState, error) {
			switch msg.(type) {
			case touch:
				s.N++
				handled.Add(1)
			case sync_:
				ctx.Reply(s.N)
			}
			return s, nil
		},
	})
}

// BenchmarkHandoff hands 10,000 processes with about 1 KiB of state each
// from one system to another (in one OS process, over an in-memory
// channel) while a sender messages them by name (about 20,000 messages a
// second), and reports the
// time from the trigger to the commit and forwarding, the pause, the
// bytes that crossed and the messages lost (handled nowhere): 0.
//
//	go test -run '^$' -bench Handoff -benchtime 1x ./handoff
func BenchmarkHandoff(b *testing.B) {
	const procs = 10_000
	for range b.N {
		var handledOld, handledNew atomic.Int64
		old := actortest.NewSystem(b)
		require.NoError(b, old.Load(blobVersion("v1", "", &handledOld)))
		specs := make([]supervisor.ChildSpec, procs)
		for i := range specs {
			n := "b" + strconv.Itoa(i)
			specs[i] = supervisor.ChildSpec{ID: n, Start: supervisor.StartSpec{Module: "blob",
				Options: []actor.SpawnOption{actor.WithName(n)}}}
		}
		top, err := supervisor.Start(old.System, supervisor.Flags{}, specs)
		require.NoError(b, err)
		oldN := New(old.System, Options{Trees: []*supervisor.Handle{top}, StepTimeout: time.Minute})
		sys := actortest.NewSystem(b)
		require.NoError(b, sys.Stage(blobVersion("v1", "", &handledNew)))
		require.NoError(b, sys.Load(blobVersion("v2", "v1", &handledNew)))
		newN := New(sys.System, Options{StepTimeout: time.Minute})

		// The load: one sender, by name, through the whole handoff, about
		// 20,000 messages a second (20 every millisecond).
		var sent atomic.Int64
		stop, stopped := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(stopped)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for i := 0; ; {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				for range 20 {
					if old.SendNamed("b"+strconv.Itoa(i%procs), touch{}) == nil {
						sent.Add(1)
					}
					i++
				}
			}
		}()
		begun := map[string]time.Duration{} // each step's begin, since the trigger
		unsub := old.Subscribe(func(e actor.Event) {
			if ev, ok := e.(Event); ok && ev.Status == "begin" {
				begun[ev.Step] = ev.Elapsed
			}
		})
		b.ResetTimer()
		rep, err, recvErr := pair(b, oldN, newN, 0)
		b.StopTimer()
		close(stop)
		<-stopped
		unsub()
		require.NoError(b, err)
		require.NoError(b, recvErr)
		// Calls through the old process (forwarded) after the sender's
		// last cast: once answered, every cast before them was handled.
		kept := settle(b, old.System, procs)
		lost := sent.Load() - handledOld.Load() - handledNew.Load()
		b.ReportMetric(float64(rep.Total.Milliseconds()), "total-ms")
		b.ReportMetric(float64(rep.Pause.Milliseconds()), "pause-ms")
		b.ReportMetric(float64((begun[StepRebuild] - begun[StepTransfer]).Milliseconds()), "transfer-ms")
		b.ReportMetric(float64((begun[StepCommit] - begun[StepRebuild]).Milliseconds()), "rebuild-ms")
		b.ReportMetric(float64((begun[StepDrain] - begun[StepForward]).Milliseconds()), "forward-ms")
		b.ReportMetric(float64(rep.Bytes), "bytes")
		b.ReportMetric(float64(lost), "lost")
		b.ReportMetric(float64(handledOld.Load()+handledNew.Load()-kept), "state-lost") // increments the states forgot
		b.ReportMetric(float64(rep.Forwarded), "forwarded")
		b.ReportMetric(float64(sent.Load()), "sent")
		oldN.Close()
		newN.Close()
	}
}

// The two ways of deploying a new build that the handoff is compared
// with, on the same 10,000 processes under the same load, in one OS
// process: the "new build" is a second system.

// fleet starts procs "blob" processes named b0..b{procs-1} under a
// one_for_one supervisor.
func fleet(b *testing.B, sys *actor.System, procs int) *supervisor.Handle {
	b.Helper()
	specs := make([]supervisor.ChildSpec, procs)
	for i := range specs {
		n := "b" + strconv.Itoa(i)
		specs[i] = supervisor.ChildSpec{ID: n, Start: supervisor.StartSpec{Module: "blob",
			Options: []actor.SpawnOption{actor.WithName(n)}}}
	}
	top, err := supervisor.Start(sys, supervisor.Flags{}, specs)
	require.NoError(b, err)
	return top
}

// sender sends touch to the processes by name, 20 every millisecond, to
// whichever system target holds; sends the target refuses are counted,
// and the longest run of refusals is the pause its processes showed.
type sender struct {
	target        atomic.Pointer[actor.System]
	sent, refused atomic.Int64
	refusedSince  time.Time
	longest       time.Duration
	stop, stopped chan struct{}
	procs         int
}

func startSender(sys *actor.System, procs int) *sender {
	s := &sender{stop: make(chan struct{}), stopped: make(chan struct{}), procs: procs}
	s.target.Store(sys)
	go func() {
		defer close(s.stopped)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; ; {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			for range 20 {
				s.send("b" + strconv.Itoa(i%procs))
				i++
			}
		}
	}()
	return s
}

func (s *sender) send(name string) {
	now := time.Now()
	if s.target.Load().SendNamed(name, touch{}) != nil {
		s.refused.Add(1)
		if s.refusedSince.IsZero() {
			s.refusedSince = now
		}
		return
	}
	s.sent.Add(1)
	if !s.refusedSince.IsZero() {
		s.longest = max(s.longest, now.Sub(s.refusedSince))
		s.refusedSince = time.Time{}
	}
}

func (s *sender) end() {
	close(s.stop)
	<-s.stopped
}

// settle waits until every process of sys has handled what was sent to
// it before (a call after the casts), and returns the sum of their
// counters: the increments their states remember.
func settle(b *testing.B, sys *actor.System, procs int) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var sum int64
	for i := range procs {
		n, err := sys.CallNamed(ctx, "b"+strconv.Itoa(i), sync_{})
		require.NoError(b, err)
		sum += n.(int64)
	}
	return sum
}

// BenchmarkRestartPlain deploys the new build by a plain restart: the
// old system shuts down, then the new one starts its processes afresh.
// Every process is down from the trigger until the new build serves, what
// was queued at the shutdown is lost, and so is every state.
//
//	go test -run '^$' -bench 'Handoff|Restart|SocketOnly' -benchtime 1x ./handoff
func BenchmarkRestartPlain(b *testing.B) { benchRedeploy(b, true) }

// BenchmarkSocketOnly deploys the new build as a socket-only handoff
// does (tableflip, Envoy's hot restart): the new build starts its
// processes afresh beside the old one, takes the traffic when it is
// ready, and the old one then stops. No send is refused, but every state
// is lost, and so is what the old processes had queued when they stopped.
func BenchmarkSocketOnly(b *testing.B) { benchRedeploy(b, false) }

// benchRedeploy deploys a new build of 10,000 processes without a
// handoff: stopping the old build first (a plain restart) or last (a
// socket-only handoff).
func benchRedeploy(b *testing.B, stopFirst bool) {
	const procs = 10_000
	for range b.N {
		var handledOld, handledNew atomic.Int64
		old := actortest.NewSystem(b)
		require.NoError(b, old.Load(blobVersion("v1", "", &handledOld)))
		fleet(b, old.System, procs)
		s := startSender(old.System, procs)
		sys := actortest.NewSystem(b)
		require.NoError(b, sys.Load(blobVersion("v2", "", &handledNew)))
		stopOld := func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			require.NoError(b, old.Shutdown(ctx))
		}

		b.ResetTimer()
		begin := time.Now()
		if stopFirst {
			stopOld()
		}
		fleet(b, sys.System, procs)
		s.target.Store(sys.System)
		total := time.Since(begin)
		b.StopTimer()
		pause := s.longest
		if stopFirst {
			pause = max(total, pause) // every process is down from the trigger
		} else {
			stopOld()
		}
		remembered := handledOld.Load() // the increments the old states held
		s.end()
		kept := settle(b, sys.System, procs) - handledNew.Load()
		b.ReportMetric(float64(total.Milliseconds()), "total-ms")
		b.ReportMetric(float64(pause.Milliseconds()), "pause-ms")
		b.ReportMetric(float64(s.sent.Load()-handledOld.Load()-handledNew.Load()), "lost")
		b.ReportMetric(float64(s.refused.Load()), "refused")
		b.ReportMetric(float64(remembered-kept), "state-lost") // increments the states forgot
	}
}
