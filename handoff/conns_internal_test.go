package handoff

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gatedListener's Accept says it began, then waits to be given what to
// return.
type gatedListener struct {
	net.Listener
	began chan struct{}
	give  chan net.Conn
}

func (l *gatedListener) Accept() (net.Conn, error) {
	l.began <- struct{}{}
	c, ok := <-l.give
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}

// The drain's wait counts a connection from the moment an Accept call
// begins: one the kernel hands over just as the listener closes is
// waited for, though Accept had not returned it when the wait began.
func TestDrainWaitsForAConnectionAcceptedAsTheListenerCloses(t *testing.T) {
	n := &Node{}
	inner := &gatedListener{began: make(chan struct{}), give: make(chan net.Conn)}
	l := &trackedListener{Listener: inner, n: n}
	accepted := make(chan net.Conn)
	go func() {
		c, err := l.Accept()
		assert.NoError(t, err)
		accepted <- c
	}()
	<-inner.began
	n.conns.mu.Lock()
	open := n.conns.open
	n.conns.mu.Unlock()
	require.Equal(t, 1, open, "the Accept in progress is counted")

	waited := make(chan error, 1)
	go func() { waited <- n.conns.wait(context.Background()) }()
	client, server := net.Pipe()
	defer client.Close()
	inner.give <- server
	c := <-accepted
	select {
	case err := <-waited:
		t.Fatalf("the wait returned (%v) with an accepted connection open", err)
	default:
	}
	require.NoError(t, c.Close())
	require.NoError(t, <-waited)

	// A failed Accept (the listener closed) leaves nothing to wait for.
	go func() {
		_, err := l.Accept()
		accepted <- nil
		assert.ErrorIs(t, err, net.ErrClosed)
	}()
	<-inner.began
	close(inner.give)
	<-accepted
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, n.conns.wait(ctx))
}
