package plugin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/upgrade"
	"github.com/graftrt/graft/upgrade/plugin/internal/pb"
)

// proc is the OS process behind one plugin version in one system. It is
// started by Load, restarted on demand after a crash (with backoff after
// repeated failures), and stopped when the version retires, leaves the
// system's module table, or the system shuts down; a version used again
// after that starts a new one on first use.
//
// No lock is held while a process starts or stops: a start publishes a
// child that later callers wait for (or give up on), and a stop or a
// failure takes the child out under the lock and kills it after. So a
// plugin that is slow to start or to die delays only the callers that need
// that very process, each by a bounded time.
type proc struct {
	ref upgrade.Ref
	sum []byte
	o   *options
	log *zap.Logger
	now func() time.Time
	// emit reports the process's starts and stops on the system's bus
	// (upgrade.LoaderProcessStarted, LoaderProcessStopped).
	emit func(actor.Event)
	// desc is the first handshake's (Load's), set before the version is
	// published; later ones must agree.
	desc *pb.DescribeResponse
	reg  *registry
	v    *actor.Version // guarded by reg.mu: the version it serves, once loaded
	// listed: the registry has it (see registry.list); set before a
	// process starts, so that Shutdown always finds a running one.
	listed atomic.Bool

	mu      sync.Mutex
	cur     *child    // guarded by mu: the process running or starting; nil when none
	fails   int       // guarded by mu: failures since the last call that worked
	retryAt time.Time // guarded by mu: no start before this
	lastErr error     // guarded by mu
	closed  string    // guarded by mu: why it must never start again ("" while it may)
}

// child is one start of the plugin: a go-plugin client and the OS process
// it runs.
type child struct {
	client *goplugin.Client
	ready  chan struct{} // closed when the start is over
	// Set before ready is closed:
	err  error // why the start failed
	stub pb.ModuleClient

	mu     sync.Mutex
	os     *osProcess // guarded by mu: set when go-plugin asks for the process
	halted bool       // guarded by mu: killed; no process may start
	// up: it started and was reported; cleared by the one who reports its
	// stop (see proc.end).
	up atomic.Bool
}

// conn is a running plugin process as a call sees it.
type conn struct {
	c    *child
	stub pb.ModuleClient
}

// get returns the running process, starting it if needed, or waiting for
// the start under way. Within the backoff after a failure it fails at once
// with ErrUnavailable.
func (p *proc) get(ctx context.Context) (conn, error) {
	for {
		p.mu.Lock()
		c := p.cur
		if c == nil {
			break // p.mu held: start one
		}
		select {
		case <-c.ready:
		default: // starting
			p.mu.Unlock()
			select {
			case <-c.ready:
				if c.err != nil {
					return conn{}, c.err
				}
				continue
			case <-ctx.Done():
				return conn{}, fmt.Errorf("%w: %v: waiting for the process to start: %w", ErrUnavailable, p.ref, ctx.Err())
			}
		}
		if !c.exited() {
			p.mu.Unlock()
			return conn{c, c.stub}, nil
		}
		// It exited by itself: a crash noticed late.
		p.cur = nil
		err := fmt.Errorf("%w: process %d exited", ErrCrashed, c.osPID())
		p.failedLocked(err)
		p.mu.Unlock()
		p.logFailure(c, err)
		p.end(c, context.Background(), 0, err)
	}
	if p.closed != "" {
		defer p.mu.Unlock()
		return conn{}, fmt.Errorf("%w: %v: %s", ErrUnavailable, p.ref, p.closed)
	}
	if !p.listed.Load() && !p.reg.list(p) {
		p.mu.Unlock()
		return conn{}, fmt.Errorf("%w: %v: the system has stopped", ErrUnavailable, p.ref)
	}
	if now := p.now(); now.Before(p.retryAt) {
		defer p.mu.Unlock()
		return conn{}, fmt.Errorf("%w: %v: restarting in %v after %d failures: %w",
			ErrUnavailable, p.ref, p.retryAt.Sub(now), p.fails, p.lastErr)
	}
	c := p.newChild()
	p.cur = c
	p.mu.Unlock()

	err := p.start(ctx, c)
	p.mu.Lock()
	switch {
	case p.cur != c: // stopped meanwhile (see stop), which killed what started
		err = fmt.Errorf("%w: %v: %s", ErrUnavailable, p.ref, cmp.Or(p.closed, "stopped while starting"))
	case err != nil:
		p.cur = nil
		p.failedLocked(err)
	}
	c.err = err
	close(c.ready)
	p.mu.Unlock()
	if err != nil {
		return conn{}, err
	}
	p.log.Info("plugin process started", zap.String("module", p.ref.Module),
		zap.String("version", p.ref.Version), zap.Int("os_pid", c.osPID()), zap.String("path", p.ref.Path))
	c.up.Store(true)
	p.emit(upgrade.LoaderProcessStarted{Module: p.ref.Module, Version: p.ref.Version, OSPID: c.osPID()})
	return conn{c, c.stub}, nil
}

// newChild prepares a start: go-plugin's client, with this package's
// runner (see osProcess) for the OS process.
func (p *proc) newChild() *child {
	c := &child{ready: make(chan struct{})}
	c.client = goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  pb.Handshake,
		VersionedPlugins: pb.HostVersions(),
		// go-plugin hands the runner a command with only its own
		// environment variables (SkipHostEnv) and nothing to run: the
		// runner is given the executable, after its checksum is verified
		// (go-plugin's SecureConfig checks the Cmd, which a RunnerFunc
		// excludes).
		RunnerFunc: func(_ hclog.Logger, spec *exec.Cmd, sockets string) (runner.Runner, error) {
			if err := verify(p.ref.Path, p.sum); err != nil {
				return nil, err
			}
			cmd := exec.Command(p.ref.Path)
			cmd.Env = append(slices.Clone(p.o.env), spec.Env...)
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.halted {
				return nil, errHalted
			}
			c.os = newOSProcess(cmd, sockets)
			return c.os, nil
		},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         !p.o.insecure,
		SkipHostEnv:      true,
		StartTimeout:     p.o.startTimeout,
		Logger:           hclogger(p.log),
		GRPCDialOptions:  pb.DialOptions,
	})
	return c
}

// start launches the executable and runs the handshake: go-plugin's
// (magic cookie, protocol version, AutoMTLS) after verifying the SHA-256
// checksum, then a health check, then Describe, which must name the module
// and version asked for. When ctx ends first, the process is killed.
func (p *proc) start(ctx context.Context, c *child) error {
	defer context.AfterFunc(ctx, c.kill)()
	fail := func(kind error, err error) error {
		c.stop(context.Background(), 0, p.log)
		if ctx.Err() != nil { // killed for that
			return fmt.Errorf("%w: %v: starting: %w", ErrUnavailable, p.ref, ctx.Err())
		}
		return fmt.Errorf("%w: %v from %s: %w", kind, p.ref, p.ref.Path, err)
	}
	rpc, err := c.client.Client()
	if err != nil {
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			return fail(ErrChecksum, err)
		}
		return fail(ErrHandshake, err)
	}
	if err := rpc.Ping(); err != nil {
		return fail(ErrHandshake, fmt.Errorf("health check: %w", err))
	}
	raw, err := rpc.Dispense(pb.Name)
	if err != nil {
		return fail(ErrHandshake, err)
	}
	stub := raw.(pb.ModuleClient)
	cctx, cancel := context.WithTimeout(ctx, p.o.callTimeout)
	defer cancel()
	desc, err := stub.Describe(cctx, &pb.DescribeRequest{Protocol: pb.Protocol})
	if err != nil {
		return fail(ErrHandshake, fmt.Errorf("describe: %w", err))
	}
	if err := p.checkDescription(desc, c.client.NegotiatedVersion()); err != nil {
		return fail(ErrHandshake, err)
	}
	if p.desc == nil {
		p.desc = desc // the first start, in Load: nothing reads it yet
	}
	c.stub = stub
	return nil
}

// verify checks the SHA-256 of the file at path: go-plugin's
// ErrChecksumsDoNotMatch if it is not sum. The file is executed by path
// afterwards, as go-plugin does: whoever can replace it in between can run
// their code (see the trust model in docs/plugins.md).
func verify(path string, sum []byte) error {
	got, err := Checksum(path)
	if err != nil {
		return fmt.Errorf("verifying the checksum: %w", err)
	}
	if got != hex.EncodeToString(sum) {
		return goplugin.ErrChecksumsDoNotMatch
	}
	return nil
}

// checkDescription refuses a plugin that serves something else than what
// was asked, or something else than it served before, or that describes
// another protocol version than the one it negotiated.
func (p *proc) checkDescription(d *pb.DescribeResponse, negotiated int) error {
	switch {
	case d.GetProtocol() < pb.MinProtocol || d.GetProtocol() > pb.Protocol:
		return fmt.Errorf("plugin speaks protocol %d, host %d to %d", d.GetProtocol(), pb.MinProtocol, pb.Protocol)
	case int(d.GetProtocol()) != negotiated:
		return fmt.Errorf("plugin describes protocol %d, negotiated %d", d.GetProtocol(), negotiated)
	case d.GetModule() != p.ref.Module || d.GetVersion() != p.ref.Version:
		return fmt.Errorf("executable serves %s@%s, not %v", d.GetModule(), d.GetVersion(), p.ref)
	case p.desc != nil && !proto.Equal(d, p.desc):
		return fmt.Errorf("restarted process describes itself differently (%v, was %v)", d, p.desc)
	}
	if _, err := codecOf(d.GetCodec()); err != nil {
		return err
	}
	return nil
}

// failed records that a call on c failed because of the process (it
// crashed, hung or lied): the process is killed at once (a process that
// failed a call is not asked to exit, and a hung one would not), and the
// next call starts a new one. The kill happens outside the lock, so the
// version's other processes never wait for it; the caller does, for a
// bounded time, so that its exit reason is reported once the process is
// gone.
func (p *proc) failed(c *child, err error) {
	p.mu.Lock()
	if p.cur != c {
		p.mu.Unlock()
		return // another call noticed first, or it was stopped
	}
	p.cur = nil
	p.failedLocked(err)
	p.mu.Unlock()
	p.logFailure(c, err)
	p.end(c, context.Background(), 0, err)
}

// end stops c (see child.stop) and reports the stop of a process that was
// reported started, once.
func (p *proc) end(c *child, ctx context.Context, grace time.Duration, why error) {
	pid := c.osPID()
	c.stop(ctx, grace, p.log)
	if c.up.CompareAndSwap(true, false) {
		p.emit(upgrade.LoaderProcessStopped{Module: p.ref.Module, Version: p.ref.Version, OSPID: pid, Reason: why})
	}
}

func (p *proc) failedLocked(err error) {
	p.fails++
	p.lastErr = err
	p.retryAt = p.now().Add(p.o.backoff(p.fails))
}

func (p *proc) logFailure(c *child, err error) {
	p.log.Error("plugin process failed", zap.String("module", p.ref.Module),
		zap.String("version", p.ref.Version), zap.Int("os_pid", c.osPID()), zap.Error(err))
}

// worked records a call that succeeded: failures no longer count.
func (p *proc) worked() {
	p.mu.Lock()
	p.fails, p.retryAt, p.lastErr = 0, time.Time{}, nil
	p.mu.Unlock()
}

// stop ends the process, if running or starting; why is logged. The
// process is asked to exit and given the stop timeout, cut short when ctx
// ends; then it and its process group are killed (see child.stop). close
// forbids starting another (the system has stopped, or the version was
// released): later calls fail with ErrUnavailable and why.
func (p *proc) stop(ctx context.Context, why string, close bool) {
	p.mu.Lock()
	if close && p.closed == "" {
		p.closed = why
	}
	c := p.cur
	p.cur = nil
	p.mu.Unlock()
	if c == nil {
		return
	}
	p.end(c, ctx, p.o.stopTimeout, errors.New(why))
	p.log.Info("plugin process stopped", zap.String("module", p.ref.Module),
		zap.String("version", p.ref.Version), zap.Int("os_pid", c.osPID()), zap.String("why", why))
}

// osPID returns the process's OS PID, 0 when not running.
func (p *proc) osPID() int {
	p.mu.Lock()
	c := p.cur
	p.mu.Unlock()
	if c == nil || !c.started() || c.exited() {
		return 0
	}
	return c.osPID()
}

// killWait bounds the wait for a killed process to be reaped and for
// go-plugin to let go of it. SIGKILL takes effect at once, and the
// process's pipes close pipeGrace after its exit; only a process stuck in
// the kernel (uninterruptible sleep) takes longer, and is then left
// behind with a log line.
const killWait = pipeGrace + time.Second

// stop ends the child's process. With grace > 0 and ctx not done it asks
// the plugin to exit first (go-plugin's Kill closes the connection, and
// the SDK's Serve returns) and waits up to grace, or until ctx ends; then,
// or at once, it kills the process and its process group (SIGKILL). It
// waits up to killWait after the kill.
//
// go-plugin's Kill alone is not bounded: it waits for the plugin to
// answer its shutdown request (forever, for a stopped process), then 2 s
// for a graceful exit, then for the process's pipes to close (as long as a
// helper holding them lives). So it runs on a goroutine of its own, and
// what bounds the stop is the kill of the OS process, which ends all of
// those waits.
func (c *child) stop(ctx context.Context, grace time.Duration, log *zap.Logger) {
	if !c.started() {
		grace = 0 // a process still starting is not asked anything
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.client.Kill()
	}()
	if grace > 0 && ctx.Err() == nil {
		t := time.NewTimer(grace)
		select {
		case <-done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	c.kill()
	t := time.NewTimer(killWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Error("plugin process still running after SIGKILL; left behind", zap.Int("os_pid", c.osPID()))
		return
	}
	c.mu.Lock()
	op := c.os
	c.mu.Unlock()
	if op != nil && op.sockets != "" {
		_ = os.RemoveAll(op.sockets) // go-plugin leaves it when the process never started
	}
}

// kill kills the child's process and its process group, or keeps it from
// starting.
func (c *child) kill() {
	c.mu.Lock()
	c.halted = true
	op := c.os
	c.mu.Unlock()
	if op != nil {
		_ = op.Kill(context.Background())
	}
}

// osPID is the OS PID of the child's process, 0 if none was started.
func (c *child) osPID() int {
	c.mu.Lock()
	op := c.os
	c.mu.Unlock()
	if op == nil {
		return 0
	}
	return op.osPID()
}

// started reports whether the start is over and succeeded.
func (c *child) started() bool {
	select {
	case <-c.ready:
		return c.err == nil
	default:
		return false
	}
}

// exited reports whether the child's process has exited.
func (c *child) exited() bool {
	c.mu.Lock()
	op := c.os
	c.mu.Unlock()
	if op == nil {
		return true
	}
	select {
	case <-op.exited:
		return true
	default:
		return false
	}
}

// hclogger routes go-plugin's own log lines (and the plugin's stderr, which
// it relays) to zap at debug level: Graft logs what matters (starts,
// crashes, stops) itself.
func hclogger(log *zap.Logger) hclog.Logger {
	level := hclog.Off
	if log.Core().Enabled(zap.DebugLevel) {
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{Name: "go-plugin", Level: level, Output: zapWriter{log}})
}

type zapWriter struct{ log *zap.Logger }

func (w zapWriter) Write(b []byte) (int, error) {
	if ce := w.log.Check(zap.DebugLevel, "go-plugin"); ce != nil {
		ce.Write(zap.ByteString("line", bytes.TrimSpace(b)))
	}
	return len(b), nil
}
