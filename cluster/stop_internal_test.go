package cluster

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
)

// If Ergo's node stops by itself (its signal handler), the Node stops too.
func TestErgoStoppingStopsTheNode(t *testing.T) {
	l, err := net.Listen("tcp", "localhost:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	sys := actor.NewSystem()
	defer sys.Shutdown(context.Background())
	n, err := Join(sys, Options{Name: "self-stop@localhost", Cookie: "c", Registrar: Registrar{Port: uint16(port)}})
	require.NoError(t, err, fmt.Sprint(port))
	n.en.Stop()
	select {
	case <-n.stopDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the Node did not stop with its Ergo node")
	}
	require.ErrorIs(t, sys.Send(actor.NewPID(1, 1), "x"), actor.NoProc, "detached")
}
