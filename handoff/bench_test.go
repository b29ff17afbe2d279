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
		// A call from the same sender after its casts: once it is
		// answered, every cast before it has been handled.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for i := range procs {
			_, err := old.CallNamed(ctx, "b"+strconv.Itoa(i), sync_{})
			require.NoError(b, err)
		}
		cancel()
		lost := sent.Load() - handledOld.Load() - handledNew.Load()
		b.ReportMetric(float64(rep.Total.Milliseconds()), "total-ms")
		b.ReportMetric(float64(rep.Pause.Milliseconds()), "pause-ms")
		b.ReportMetric(float64((begun[StepRebuild] - begun[StepTransfer]).Milliseconds()), "transfer-ms")
		b.ReportMetric(float64((begun[StepCommit] - begun[StepRebuild]).Milliseconds()), "rebuild-ms")
		b.ReportMetric(float64((begun[StepDrain] - begun[StepForward]).Milliseconds()), "forward-ms")
		b.ReportMetric(float64(rep.Bytes), "bytes")
		b.ReportMetric(float64(lost), "lost")
		b.ReportMetric(float64(rep.Forwarded), "forwarded")
		b.ReportMetric(float64(sent.Load()), "sent")
		oldN.Close()
		newN.Close()
	}
}
