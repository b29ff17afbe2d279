package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/supervisor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The test service: module "svc" counts the messages it handles. v2 keeps
// the count in a struct and shows it to operators; v3's migration fails.
type (
	countV2 struct{ N int }
	inc     struct{}
)

func (c countV2) InspectState() any { return map[string]int{"n": c.N} }

func svcVersions() (v1, v2, v3 *actor.Version) {
	v1 = actor.Define("svc", "v1", actor.Funcs[int]{
		Handle: func(ctx *actor.Context, n int, _ any) (int, error) { ctx.Reply(n + 1); return n + 1, nil },
	})
	v2 = actor.Define("svc", "v2", actor.Funcs[countV2]{
		Follows: "v1",
		Handle: func(ctx *actor.Context, c countV2, _ any) (countV2, error) {
			c.N++
			ctx.Reply(c.N)
			return c, nil
		},
		CodeChange: actor.Migrate(func(n int, _ any) (countV2, error) { return countV2{N: n}, nil }),
		Downgrade:  func(_ string, c countV2, _ any) (any, error) { return c.N, nil },
	})
	v3 = actor.Define("svc", "v3", actor.Funcs[countV2]{
		Follows: "v2",
		Handle:  func(ctx *actor.Context, c countV2, _ any) (countV2, error) { return c, nil },
		CodeChange: actor.Migrate(func(c countV2, _ any) (countV2, error) {
			return c, errors.New("v3 cannot read this state")
		}),
	})
	return v1, v2, v3
}

const testToken = "0123456789abcdef"

// node is a running Graft node with the admin API on loopback: a
// one_for_one root "top" with a worker "single" and a simple_one_for_one
// "pool" of three workers, all of module svc at v1.
type node struct {
	sys     *actortest.System
	srv     *admin.Server
	addr    string
	single  actor.PID
	workers []actor.PID
}

type nodeOption func(*admin.Options)

func startNode(t *testing.T, opts ...nodeOption) *node {
	t.Helper()
	ctx := t.Context()
	sys := actortest.NewSystem(t, actortest.WithSystemOptions(actor.WithClock(actor.RealClock{})),
		actortest.WithLogLevel(zap.NewAtomicLevelAt(zap.WarnLevel)))
	v1, v2, v3 := svcVersions()
	require.NoError(t, sys.Load(v1))
	top, err := supervisor.Start(sys.System, supervisor.Flags{Strategy: supervisor.OneForOne, Intensity: 10, Period: 1e9},
		[]supervisor.ChildSpec{
			{ID: "single", Start: supervisor.StartSpec{Module: "svc"}},
			supervisor.Spec("pool", supervisor.Flags{Strategy: supervisor.SimpleOneForOne, Intensity: 10, Period: 1e9},
				[]supervisor.ChildSpec{{ID: "worker", Start: supervisor.StartSpec{Module: "svc"}}}),
		}, actor.WithName("top"))
	require.NoError(t, err)
	kids, err := top.WhichChildren(ctx)
	require.NoError(t, err)
	require.Len(t, kids, 2)
	n := &node{sys: sys, single: kids[0].PID}
	pool := supervisor.Of(sys.System, kids[1].PID)
	for range 3 {
		pid, err := pool.StartSimpleChild(ctx, nil)
		require.NoError(t, err)
		n.workers = append(n.workers, pid)
	}
	o := admin.Options{Addr: "127.0.0.1:0", Token: testToken, TokenFile: t.TempDir() + "/token",
		Supervisors: []*supervisor.Handle{top}, Versions: []*actor.Version{v1, v2, v3}, Node: "test-node"}
	for _, f := range opts {
		f(&o)
	}
	n.srv, err = admin.Start(sys.System, o)
	require.NoError(t, err)
	n.addr = n.srv.URL()
	t.Cleanup(func() { require.NoError(t, n.srv.Close(context.Background())) })
	return n
}

// current is the module's current version in the node.
func (n *node) current(t *testing.T) string {
	t.Helper()
	v, ok := n.sys.Current("svc")
	require.True(t, ok)
	return v.Name()
}

// versions maps every svc process to the version it runs.
func (n *node) versions() map[actor.PID]string {
	out := map[actor.PID]string{}
	for _, st := range n.sys.Snapshot() {
		if st.Module == "svc" {
			out[st.PID] = st.Version
		}
	}
	return out
}

// port is the port the node listens on.
func (n *node) port(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(n.addr)
	require.NoError(t, err)
	return u.Port()
}

// result is one run of the command.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// graft runs the command in-process against the node, with its address
// and token.
func (n *node) graft(t *testing.T, args ...string) result {
	t.Helper()
	return graft(t, nil, "", append([]string{"--addr", n.addr, "--token", testToken}, args...)...)
}

// graft runs the command in-process with env as its whole environment and
// stdin as its standard input.
func graft(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr, func(k string) string { return env[k] })
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// syncBuffer is an output written by a command running in another
// goroutine; waitFor blocks until it holds a string.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the output contains want, or ctx ends (the test
// fails).
func (s *syncBuffer) waitFor(ctx context.Context, t *testing.T, want string) {
	t.Helper()
	for {
		s.mu.Lock()
		has, changed := strings.Contains(s.b.String(), want), s.changed
		s.mu.Unlock()
		if has {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("never printed %q; got:\n%s", want, s.String())
		}
	}
}
