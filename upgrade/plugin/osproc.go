package plugin

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin/runner"
)

// pipeGrace is how long a plugin's stdout and stderr are still read after
// the process exited: long enough for go-plugin to relay what the process
// wrote before it died, short enough that a helper the plugin started,
// which inherited the pipes and lives on, holds no stop up. Wall-clock
// time, like the call timeout: it bounds an OS process, not an actor.
const pipeGrace = 250 * time.Millisecond

// errHalted: the process was stopped before it could start.
var errHalted = errors.New("stopped before it started")

// osProcess is a plugin's OS process, started for go-plugin through its
// RunnerFunc instead of by go-plugin's own runner, which does three things
// a host must not:
//
//   - it gives the child the host's stdin (go-plugin's Client.Start sets
//     cmd.Stdin = os.Stdin, whatever the caller set): here the child gets
//     an empty one (/dev/null);
//   - it leaves the child in the host's process group, so that a helper
//     the plugin starts survives the plugin: here the child leads a group
//     of its own, which is killed when the plugin exits or is stopped
//     (and a terminal's Ctrl-C reaches the host alone, which then stops
//     its plugins itself);
//   - it reaps the child only once its stdout and stderr are closed, and
//     Client.Kill waits for that: a helper that inherited them holds every
//     stop of the plugin until the helper exits. Here the child is reaped
//     as soon as it exits, and its pipes are closed pipeGrace later
//     whoever holds their other ends.
//
// Reading the pipes ourselves and relaying them was the alternative; it
// changes nothing about when to stop reading, and go-plugin's reader
// already parses the handshake and the log lines.
type osProcess struct {
	cmd     *exec.Cmd
	sockets string        // go-plugin's socket directory for this process
	exited  chan struct{} // closed once the process has been reaped
	waitErr error         // how it exited; written before exited is closed

	mu     sync.Mutex
	pid    int   // guarded by mu: 0 until started
	done   bool  // guarded by mu: reaped
	killed bool  // guarded by mu: Kill was called; a later Start fails
	stdout *pipe // guarded by mu; set by Start
	stderr *pipe // guarded by mu
}

var _ runner.Runner = (*osProcess)(nil)

func newOSProcess(cmd *exec.Cmd, sockets string) *osProcess {
	return &osProcess{cmd: cmd, sockets: sockets, exited: make(chan struct{})}
}

// Start starts the executable with an empty stdin, its stdout and stderr
// on pipes of its own, as the leader of a new process group.
func (p *osProcess) Start(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed {
		return errHalted
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	p.cmd.Stdin = nil // /dev/null: go-plugin set the host's stdin here
	p.cmd.Stdout, p.cmd.Stderr = outW, errW
	ownGroup(p.cmd)
	err = p.cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return err
	}
	p.pid = p.cmd.Process.Pid
	p.stdout, p.stderr = &pipe{f: outR}, &pipe{f: errR}
	go p.reap()
	return nil
}

// reap waits for the process to exit, then kills what it left in its
// process group and closes its pipes after pipeGrace.
func (p *osProcess) reap() {
	err := p.cmd.Wait()
	p.mu.Lock()
	p.done = true
	stdout, stderr := p.stdout, p.stderr
	p.mu.Unlock()
	p.waitErr = err
	close(p.exited)
	// The group outlives its leader while a member lives, so its ID is
	// not reused meanwhile; with no member left this is a no-op.
	killGroup(p.pid)
	time.AfterFunc(pipeGrace, func() {
		stdout.Close()
		stderr.Close()
	})
}

// Kill kills the process and its process group at once (SIGKILL), or
// keeps it from starting if it has not yet.
func (p *osProcess) Kill(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed = true
	if p.pid == 0 || p.done {
		return nil
	}
	killGroup(p.pid)
	_ = p.cmd.Process.Kill() // should the plugin have left its group
	return nil
}

// Wait returns once the process has been reaped (go-plugin calls it after
// reading stdout and stderr to their end).
func (p *osProcess) Wait(ctx context.Context) error {
	select {
	case <-p.exited:
		return p.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitExit waits up to d for the process to be reaped; it reports false
// if it is still running.
func (p *osProcess) waitExit(d time.Duration) bool {
	if !p.running() {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-t.C:
		return false
	}
}

// osPID is the OS PID, 0 until started.
func (p *osProcess) osPID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// running reports whether the process was started and not reaped yet.
func (p *osProcess) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid != 0 && !p.done
}

func (p *osProcess) Stdout() io.ReadCloser {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout
}

func (p *osProcess) Stderr() io.ReadCloser {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr
}

func (p *osProcess) Name() string { return p.cmd.Path }

// ID is the OS PID, "" until started (go-plugin's Kill then has nothing to
// do).
func (p *osProcess) ID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pid == 0 {
		return ""
	}
	return strconv.Itoa(p.pid)
}

func (p *osProcess) Diagnose(context.Context) string {
	return "the file must be a Graft plugin (a main package that calls sdk.Serve) built for this platform"
}

// The plugin runs on this host: addresses need no translation.
func (p *osProcess) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (p *osProcess) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// pipe is the host's end of a plugin's stdout or stderr. Closing it ends a
// Read in progress, which go-plugin's reader then takes for the end of the
// output.
type pipe struct{ f *os.File }

func (p *pipe) Read(b []byte) (int, error) {
	n, err := p.f.Read(b)
	if errors.Is(err, os.ErrClosed) {
		err = io.EOF
	}
	return n, err
}

func (p *pipe) Close() error { return p.f.Close() }
