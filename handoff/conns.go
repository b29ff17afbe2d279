package handoff

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
)

// The listeners Node.Listen returns count the connections they accepted
// until each is closed, and each Accept call from the moment it begins:
// a connection the kernel hands to an Accept just as the drain closes the
// listener is counted before Accept returns it. http.Server.Shutdown can
// return while a connection its Serve loop accepted just before the
// listener closed is not yet tracked by the server (it looks quiescent,
// then serves it): the drain closes the listeners, then waits for every
// Accept call to return and every accepted connection to be closed, so the
// old process never exits under a request it took.
type trackedListener struct {
	net.Listener
	n *Node
}

func (l *trackedListener) Accept() (net.Conn, error) {
	l.n.conns.add() // the Accept call, then the connection it returns
	c, err := l.Listener.Accept()
	if err != nil {
		l.n.conns.done()
		return nil, err
	}
	return &trackedConn{Conn: c, n: l.n}, nil
}

// File returns a duplicate of the listener's descriptor (see
// net.TCPListener.File): what a handoff passes on.
func (l *trackedListener) File() (*os.File, error) {
	fl, ok := l.Listener.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("handoff: a %T cannot be passed on", l.Listener)
	}
	return fl.File()
}

type trackedConn struct {
	net.Conn
	once sync.Once
	n    *Node
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.n.conns.done)
	return err
}

// connCount counts Accept calls in progress and open accepted
// connections; zero is closed and replaced each time the count reaches 0.
type connCount struct {
	mu   sync.Mutex
	open int
	zero chan struct{}
}

func (c *connCount) add() {
	c.mu.Lock()
	c.open++
	c.mu.Unlock()
}

func (c *connCount) done() {
	c.mu.Lock()
	c.open--
	if c.open == 0 && c.zero != nil {
		close(c.zero)
		c.zero = nil
	}
	c.mu.Unlock()
}

// wait waits until no Accept call is in progress and no accepted
// connection is open, or ctx ends: after the listeners are closed, since
// a Serve loop is always in an Accept while it runs.
func (c *connCount) wait(ctx context.Context) error {
	c.mu.Lock()
	if c.open == 0 {
		c.mu.Unlock()
		return nil
	}
	if c.zero == nil {
		c.zero = make(chan struct{})
	}
	z, open := c.zero, c.open
	c.mu.Unlock()
	select {
	case <-z:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%d connections still open: %w", open, ctx.Err())
	}
}
