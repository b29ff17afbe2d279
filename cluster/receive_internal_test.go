package cluster

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A frame of a session that ended while its packet was being handled is
// not taken; a send of a live one is counted as taken at once.
func TestTakingStopsWhenTheSessionEnds(t *testing.T) {
	c := newFakeConn()
	n, p := fakePeer(t, c)
	n.mu.Lock()
	p.rsession = 3
	n.mu.Unlock()
	assert.True(t, n.taking(p, 3, wire{Kind: kSend, Ref: 17}))
	n.switchConn(p, nil)
	assert.False(t, n.taking(p, 3, wire{Kind: kSend, Ref: 18}))
	n.mu.Lock()
	defer n.mu.Unlock()
	assert.Equal(t, uint64(17), p.finalAck, "the peer is told 17 was taken, and 18 not")
}
