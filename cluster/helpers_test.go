package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/cluster"
	"github.com/graftrt/graft/cluster/internal/testkit"
)

// wait bounds every wait for an event in these tests; nothing sleeps.
const wait = 15 * time.Second

const cookie = "test-cookie"

// freePort returns a port free on loopback for both TCP and UDP (the
// embedded registrar takes both), so that parallel runs never share a
// registrar.
func freePort(t testing.TB) uint16 {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "localhost:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return uint16(port)
		}
	}
	t.Fatal("no free port")
	return 0
}

func ctxWait(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// joinLocal starts a System in this process joined as name, with the test
// types and modules; reg is the registrar's port.
func joinLocal(t testing.TB, name string, reg uint16, opts ...func(*cluster.Options)) (*actortest.System, *cluster.Node) {
	t.Helper()
	sys := actortest.NewSystem(t, actortest.WithoutGoroutineCheck(), actortest.WithLogLevel(zap.NewAtomicLevelAt(zap.ErrorLevel)))
	o := cluster.Options{Name: name, Cookie: cookie, Registrar: cluster.Registrar{Port: reg}}
	for _, f := range opts {
		f(&o)
	}
	n, err := cluster.Join(sys.System, o)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		require.NoError(t, n.Stop(ctx))
	})
	require.NoError(t, n.Register(testkit.Types()...))
	require.NoError(t, sys.Load(testkit.Echo(n)))
	return sys, n
}

var (
	binDir  string
	binOnce sync.Once
	binPath string
	binErr  error
)

// nodeBinary builds internal/testnode once per test run.
func nodeBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "graft-cluster-test")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "testnode")
		out, err := exec.Command("go", "build", "-o", binPath, "./internal/testnode").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build ./internal/testnode: %v\n%s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// osNode is a node running in its own OS process (internal/testnode).
type osNode struct {
	name   string
	cmd    *exec.Cmd
	stdin  interface{ Close() error }
	out    *readyWriter
	errs   *bytes.Buffer
	exited chan struct{}
}

// readyWriter is the node's standard output: it reports the "ready" line.
type readyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	once  sync.Once
}

func (w *readyWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	if strings.Contains(w.buf.String(), "ready\n") {
		w.once.Do(func() { close(w.ready) })
	}
	return len(b), nil
}

// startNode starts a node process named name on registrar port reg and
// waits until it is ready. It ends when the test does (its standard input
// closes), or when killed.
func startNode(t testing.TB, name string, reg uint16, args ...string) *osNode {
	t.Helper()
	cmd := exec.Command(nodeBinary(t), append([]string{"-name", name, "-cookie", cookie, "-registrar", fmt.Sprint(reg)}, args...)...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	on := &osNode{name: name, cmd: cmd, stdin: stdin, out: &readyWriter{ready: make(chan struct{})},
		errs: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = on.out, &lockedBuffer{b: on.errs}
	require.NoError(t, cmd.Start())
	go func() { // ends when the process does
		_ = cmd.Wait()
		close(on.exited)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-on.exited:
		case <-time.After(wait):
			_ = cmd.Process.Kill()
			<-on.exited
			t.Errorf("node %s did not stop when told", name)
		}
		if t.Failed() {
			t.Logf("node %s stderr:\n%s", name, on.errs.String())
		}
	})
	select {
	case <-on.out.ready:
	case <-on.exited:
		t.Fatalf("node %s exited before it was ready:\n%s", name, on.errs.String())
	case <-time.After(wait):
		t.Fatalf("node %s not ready within %v:\n%s", name, wait, on.errs.String())
	}
	return on
}

// kill ends the node's process with SIGKILL and waits until it is gone.
func (on *osNode) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, on.cmd.Process.Signal(syscall.SIGKILL))
	<-on.exited
}

type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// cluster3 is this test's node (t@localhost, serving the registrar) and
// three node processes: b, c and d.
type cluster3 struct {
	sys     *actortest.System
	n       *cluster.Node
	b, c, d *osNode
}

// newCluster3 starts the cluster; dArgs go to node d's command line.
func newCluster3(t *testing.T, dArgs ...string) *cluster3 {
	t.Helper()
	reg := freePort(t)
	sys, n := joinLocal(t, "t@localhost", reg)
	cl := &cluster3{sys: sys, n: n}
	cl.b = startNode(t, "b@localhost", reg)
	cl.c = startNode(t, "c@localhost", reg)
	cl.d = startNode(t, "d@localhost", reg, dArgs...)
	return cl
}

// echo returns the PID of the echo process on node.
func (cl *cluster3) echo(t *testing.T, node string) actor.PID {
	t.Helper()
	pid, err := cl.n.Whereis(ctxWait(t), cluster.Name{Name: "echo", Node: node})
	require.NoError(t, err)
	return pid
}

func (cl *cluster3) call(t *testing.T, node string, req any) (any, error) {
	t.Helper()
	return cl.n.CallNamed(ctxWait(t), cluster.Name{Name: "echo", Node: node}, req)
}
