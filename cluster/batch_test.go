package cluster_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/internal/testkit"
)

// Several senders stream to one process on another node, so that their
// messages share packets, and the connection is closed while they do
// (packets on the wire, more waiting in the outbox). Each sender's
// messages arrive in the order sent, none twice, and every message sent
// is handled there or reported here as a dead letter with reason
// noconnection, once; the receiver reports nothing it did not take.
// Sending resumes once both ends have seen the connection end (see
// TestNothingLostSilentlyWhenTheConnectionBreaks), on a new connection
// the senders all ask for at once, and the order holds across both.
func TestBatchedSendsAcrossABrokenConnection(t *testing.T) {
	reg := freePort(t)
	sysA, a := joinLocal(t, "a@localhost", reg)
	sysB, b := joinLocal(t, "b@localhost", reg)
	_, err := sysB.Spawn("echo", nil, actor.WithName("echo"))
	require.NoError(t, err)
	echo := cluster.Name{Name: "echo", Node: b.Name()}
	far, err := a.Whereis(ctxWait(t), echo)
	require.NoError(t, err)

	var mu sync.Mutex
	dead := map[string]int64{}
	count := func(node string) func(actor.Event) {
		return func(e actor.Event) {
			if d, ok := e.(actor.DeadLetter); ok {
				if tn, named := d.Message.(cluster.ToName); named {
					d.Message = tn.Message
				}
				if _, ping := d.Message.(testkit.Ping); ping {
					mu.Lock()
					dead[node+": "+d.Reason.Error()]++
					mu.Unlock()
				}
			}
		}
	}
	defer sysA.Subscribe(count("a"))()
	defer sysB.Subscribe(count("b"))()
	pa := actortest.NewProbe(t, sysA.System)
	pa.Monitor(far)
	pb := actortest.NewProbe(t, sysB.System)
	require.NoError(t, sysA.Register("a-probe", pa.PID()))
	aProbe, err := b.Whereis(ctxWait(t), cluster.Name{Name: "a-probe", Node: a.Name()})
	require.NoError(t, err)
	pb.Monitor(aProbe)

	const senders, each = 4, 4000
	// gate: senders hold it shared while they send; the test takes it to
	// close the connection between two sends of each sender, never while
	// one is in Send (which would dial again at once, before the far end
	// has seen the close).
	var gate sync.RWMutex
	var accepted [senders]int64
	run := func(from, to int64, closeAt int64) {
		var wg sync.WaitGroup
		var once sync.Once
		closed := make(chan struct{})
		for s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("s%d", s)
				for i := from; i <= to; i++ {
					gate.RLock()
					select {
					case <-closed:
						gate.RUnlock()
						return
					default:
					}
					var err error
					if i%3 == 0 {
						err = a.SendNamed(echo, testkit.Ping{From: name, N: i})
					} else {
						err = sysA.Send(far, testkit.Ping{From: name, N: i})
					}
					gate.RUnlock()
					if err == nil {
						mu.Lock()
						accepted[s]++
						mu.Unlock()
					}
					if s == 0 && i == closeAt {
						once.Do(func() {
							gate.Lock()
							close(closed)
							assert.NoError(t, a.Disconnect(b.Name()))
							gate.Unlock()
						})
					}
				}
			}()
		}
		wg.Wait()
	}
	run(1, each, each/2)
	pa.ExpectDown(far, actor.NoConnection)
	pb.ExpectDown(aProbe, actor.NoConnection)
	run(each+1, 2*each, -1) // a new connection

	handled, err := sysA.Call(ctxWait(t), far, testkit.Seen{})
	require.NoError(t, err, "each sender's messages in order, none twice, gaps allowed")
	mu.Lock()
	defer mu.Unlock()
	var sent int64
	for _, n := range accepted {
		sent += n
	}
	t.Logf("sent %d, handled %d, dead letters %v", sent, handled, dead)
	assert.Equal(t, sent, handled.(int64)+dead["a: noconnection"], "every message handled or reported, once")
	assert.Empty(t, dead["b: noconnection"], "the receiver reports nothing it did not take")
}
