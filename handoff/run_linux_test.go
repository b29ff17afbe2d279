//go:build linux

package handoff

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor/actortest"
)

// The Run tests start this test binary as the service (see TestMain):
//
//	handover   starts a successor and a decoy (started after it), names
//	           the successor the main process (MAINPID, as a committed
//	           handoff does), and exits 0
//	orphan     starts a successor, names nobody, and exits 0
//	successor  says "ready PID" on stdout, exits 9 on SIGUSR1
//	decoy      says "ready PID", exits 0 when its stdin closes
const runChildEnv = "GRAFT_HANDOFF_RUN_CHILD"

func runChild(mode string) int {
	spawn := func(mode string) int {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), runChildEnv+"="+mode)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		return cmd.Process.Pid
	}
	switch mode {
	case "handover":
		succ := spawn("successor")
		spawn("decoy")
		if err := notifyMainPID(succ); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		return 0
	case "orphan":
		spawn("successor")
		return 0
	case "successor":
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGUSR1)
		fmt.Printf("ready %d\n", os.Getpid())
		<-ch
		return 9
	case "decoy":
		fmt.Printf("ready %d\n", os.Getpid())
		_, _ = io.Copy(io.Discard, os.Stdin)
		return 0
	}
	return 2
}

// runRig runs Run on a child in mode, with the child's stdin and stdout
// as pipes and the main processes Run reports on a channel.
type runRig struct {
	stdin  io.WriteCloser
	ready  chan int // PIDs that said ready
	mains  chan int
	sigs   chan os.Signal
	result chan runResult
}

type runResult struct {
	status int
	err    error
}

func startRun(t *testing.T, mode string) *runRig {
	r := &runRig{ready: make(chan int, 4), mains: make(chan int, 8), sigs: make(chan os.Signal, 1), result: make(chan runResult, 1)}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runChildEnv+"="+mode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	r.stdin = stdin
	out, w, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stdout = w
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var pid int
			if _, err := fmt.Sscanf(sc.Text(), "ready %d", &pid); err == nil {
				r.ready <- pid
			}
		}
		out.Close()
	}()
	go func() {
		status, err := Run(context.Background(), cmd, RunOptions{Signals: r.sigs, OnMain: func(pid int) { r.mains <- pid }})
		w.Close()
		r.result <- runResult{status, err}
	}()
	return r
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(actortest.DefaultWait):
	}
	t.Fatalf("no %s within the wait", what)
	var zero T
	return zero
}

// A service that names its successor (as a committed handoff does) is
// followed to it: signals go to the successor, not to a newer child, and
// Run ends with the successor's status once every child is gone.
func TestRunFollowsTheNamedSuccessor(t *testing.T) {
	r := startRun(t, "handover")
	first := recv(t, r.mains, "first main process")
	a, b := recv(t, r.ready, "ready"), recv(t, r.ready, "ready")
	succ := recv(t, r.mains, "successor")
	assert.NotEqual(t, first, succ)
	assert.Contains(t, []int{a, b}, succ)
	r.sigs <- syscall.SIGUSR1 // to the successor: it exits 9
	assert.Equal(t, 0, recv(t, r.mains, "the end of the main process"), "no main process after the successor; the decoy is not taken")
	require.NoError(t, r.stdin.Close()) // the decoy exits 0
	res := recv(t, r.result, "Run's end")
	require.NoError(t, res.err)
	assert.Equal(t, 9, res.status, "the status of the last main process")
}

// A service that names nobody is followed to the newest child it leaves.
func TestRunFollowsAnUnnamedChild(t *testing.T) {
	r := startRun(t, "orphan")
	recv(t, r.mains, "first main process")
	succ := recv(t, r.ready, "ready")
	assert.Equal(t, succ, recv(t, r.mains, "successor"))
	r.sigs <- syscall.SIGUSR1
	assert.Equal(t, 0, recv(t, r.mains, "the end"))
	require.NoError(t, r.stdin.Close())
	res := recv(t, r.result, "Run's end")
	require.NoError(t, res.err)
	assert.Equal(t, 9, res.status)
}

// A drain (a read deadline) takes what the socket holds without waiting:
// a successor named before its namer exited is never missed.
func TestNotificationsDrainWhatTheSocketHolds(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	require.NoError(t, err)
	t.Setenv("NOTIFY_SOCKET", sock)
	require.NoError(t, notifyMainPID(4242))
	require.NoError(t, notifyMainPID(4343))
	require.NoError(t, conn.SetReadDeadline(time.Now())) // drain asked before the reader reads
	mains, drained := make(chan int, 4), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		readNotifications(conn, mains, drained)
	}()
	recv(t, drained, "the drain")
	require.Len(t, mains, 2, "both notifications were read before the drain ended")
	assert.Equal(t, 4242, <-mains)
	assert.Equal(t, 4343, <-mains)
	require.NoError(t, conn.Close())
	recv(t, done, "the reader's end")
}
