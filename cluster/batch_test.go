package cluster_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	r := newBreakRig(t)

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
						err = r.a.SendNamed(r.echo, testkit.Ping{From: name, N: i})
					} else {
						err = r.sysA.Send(r.far, testkit.Ping{From: name, N: i})
					}
					gate.RUnlock()
					if err == nil {
						r.mu.Lock()
						accepted[s]++
						r.mu.Unlock()
					}
					if s == 0 && i == closeAt {
						once.Do(func() {
							gate.Lock()
							close(closed)
							assert.NoError(t, r.a.Disconnect(r.b.Name()))
							gate.Unlock()
						})
					}
				}
			}()
		}
		wg.Wait()
	}
	run(1, each, each/2)
	r.broken()
	run(each+1, 2*each, -1) // a new connection

	handled, err := r.sysA.Call(ctxWait(t), r.far, testkit.Seen{})
	require.NoError(t, err, "each sender's messages in order, none twice, gaps allowed")
	r.mu.Lock()
	defer r.mu.Unlock()
	var sent int64
	for _, n := range accepted {
		sent += n
	}
	t.Logf("sent %d, handled %d, dead letters %v", sent, handled, r.dead)
	assert.Equal(t, sent, handled.(int64)+r.dead["a: noconnection"], "every message handled or reported, once")
	assert.Empty(t, r.dead["b: noconnection"], "the receiver reports nothing it did not take")
}
