// Package nodetest runs the cluster tests' nodes as OS processes (the
// executable internal/testnode, built once per test binary) on loopback,
// each test with a registrar on a port of its own. The cluster package's
// tests and clusteradmin's share it.
package nodetest

import (
	"bytes"
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
)

// Wait bounds every wait for an event in the tests; nothing sleeps.
const Wait = 15 * time.Second

// Cookie is the test cluster's cookie.
const Cookie = "test-cookie"

// FreePort returns a port free on loopback for both TCP and UDP (the
// embedded registrar takes both), so that parallel runs never share a
// registrar.
func FreePort(t testing.TB) uint16 {
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

var (
	binMu   sync.Mutex
	binDir  string
	binPath string
	binErr  error
)

// Binary builds internal/testnode once per test binary; Cleanup removes
// it.
func Binary(t testing.TB) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if binPath == "" && binErr == nil {
		binDir, binErr = os.MkdirTemp("", "graft-cluster-test")
		if binErr == nil {
			path := filepath.Join(binDir, "testnode")
			out, err := exec.Command("go", "build", "-o", path, "github.com/graftrt/graft/cluster/internal/testnode").CombinedOutput()
			if err != nil {
				binErr = fmt.Errorf("go build internal/testnode: %v\n%s", err, out)
			} else {
				binPath = path
			}
		}
	}
	require.NoError(t, binErr)
	return binPath
}

// Cleanup removes the executable Binary built; TestMain calls it.
func Cleanup() {
	binMu.Lock()
	defer binMu.Unlock()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// Node is a node running in its own OS process (internal/testnode).
type Node struct {
	Name string
	Cmd  *exec.Cmd
	// Exited closes when the process has ended.
	Exited chan struct{}
	out    *readyWriter
	errs   *bytes.Buffer
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

// Start starts a node process named name on registrar port reg and waits
// until it is ready; args go to its command line. It ends when the test
// does (its standard input closes), or when killed.
func Start(t testing.TB, name string, reg uint16, args ...string) *Node {
	t.Helper()
	on, err := Launch(t, name, reg, args...)
	require.NoError(t, err)
	return on
}

// Launch is Start returning an error instead of failing the test, for
// code that must not stop the test's goroutine (a chaos run's Control).
func Launch(t testing.TB, name string, reg uint16, args ...string) (*Node, error) {
	cmd := exec.Command(Binary(t), append([]string{"-name", name, "-cookie", Cookie, "-registrar", fmt.Sprint(reg)}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	on := &Node{Name: name, Cmd: cmd, out: &readyWriter{ready: make(chan struct{})},
		errs: &bytes.Buffer{}, Exited: make(chan struct{})}
	stderr := &lockedBuffer{b: on.errs}
	cmd.Stdout, cmd.Stderr = on.out, stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { // ends when the process does
		_ = cmd.Wait()
		close(on.Exited)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-on.Exited:
		case <-time.After(Wait):
			_ = cmd.Process.Kill()
			<-on.Exited
			t.Errorf("node %s did not stop when told", name)
		}
		if t.Failed() {
			t.Logf("node %s stderr:\n%s", name, stderr.String())
		}
	})
	select {
	case <-on.out.ready:
		return on, nil
	case <-on.Exited:
		return nil, fmt.Errorf("node %s exited before it was ready:\n%s", name, stderr.String())
	case <-time.After(Wait):
		return nil, fmt.Errorf("node %s not ready within %v:\n%s", name, Wait, stderr.String())
	}
}

// Kill ends the node's process with SIGKILL and waits until it is gone.
func (on *Node) Kill(t testing.TB) {
	t.Helper()
	require.NoError(t, on.Cmd.Process.Signal(syscall.SIGKILL))
	<-on.Exited
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

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
