package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
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
type proc struct {
	ref  upgrade.Ref
	sum  []byte
	o    *options
	log  *zap.Logger
	now  func() time.Time
	desc *pb.DescribeResponse // from the first handshake; later ones must agree
	reg  *registry
	v    *actor.Version // the version it serves, once loaded
	// listed: the registry has it (see registry.list); set before a
	// process starts, so that Shutdown always finds a running one.
	listed atomic.Bool

	mu      sync.Mutex
	client  *goplugin.Client // guarded by mu; nil when not running
	stub    pb.ModuleClient  // guarded by mu
	pid     int              // guarded by mu
	fails   int              // guarded by mu: failures since the last call that worked
	retryAt time.Time        // guarded by mu: no start before this
	lastErr error            // guarded by mu
	closed  string           // guarded by mu: why it must never start again ("" while it may)
}

// conn is a running plugin process as a call sees it.
type conn struct {
	client *goplugin.Client
	stub   pb.ModuleClient
}

// get returns the running process, starting it if needed. Within the
// backoff after a failure it fails at once with ErrUnavailable.
func (p *proc) get(ctx context.Context) (conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil && !p.client.Exited() {
		return conn{p.client, p.stub}, nil
	}
	if p.client != nil { // it exited by itself: a crash noticed late
		p.failLocked(p.client, fmt.Errorf("%w: process %d exited", ErrCrashed, p.pid))
	}
	if p.closed != "" {
		return conn{}, fmt.Errorf("%w: %v: %s", ErrUnavailable, p.ref, p.closed)
	}
	if !p.listed.Load() && !p.reg.list(p) {
		return conn{}, fmt.Errorf("%w: %v: the system has stopped", ErrUnavailable, p.ref)
	}
	if now := p.now(); now.Before(p.retryAt) {
		return conn{}, fmt.Errorf("%w: %v: restarting in %v after %d failures: %w",
			ErrUnavailable, p.ref, p.retryAt.Sub(now), p.fails, p.lastErr)
	}
	if err := p.startLocked(ctx); err != nil {
		p.fails++
		p.lastErr = err
		p.retryAt = p.now().Add(p.o.backoff(p.fails))
		return conn{}, err
	}
	return conn{p.client, p.stub}, nil
}

// startLocked launches the executable and runs the handshake: go-plugin's
// (magic cookie, protocol version, AutoMTLS) after verifying the SHA-256
// checksum, then a health check, then Describe, which must name the module
// and version asked for.
func (p *proc) startLocked(ctx context.Context) error {
	cmd := exec.Command(p.ref.Path)
	cmd.Env = p.o.env
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  pb.Handshake,
		Plugins:          goplugin.PluginSet{pb.Name: &pb.Plugin{}},
		Cmd:              cmd,
		SecureConfig:     &goplugin.SecureConfig{Checksum: p.sum, Hash: sha256.New()},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         !p.o.insecure,
		SkipHostEnv:      true,
		StartTimeout:     p.o.startTimeout,
		Logger:           hclogger(p.log),
		GRPCDialOptions:  pb.DialOptions,
	})
	fail := func(kind error, err error) error {
		client.Kill()
		return fmt.Errorf("%w: %v from %s: %w", kind, p.ref, p.ref.Path, err)
	}
	rpc, err := client.Client()
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
	if err := p.checkDescription(desc); err != nil {
		return fail(ErrHandshake, err)
	}
	p.client, p.stub, p.desc = client, stub, desc
	p.pid = 0
	if rc := client.ReattachConfig(); rc != nil {
		p.pid = rc.Pid
	}
	p.log.Info("plugin process started", zap.String("module", p.ref.Module),
		zap.String("version", p.ref.Version), zap.Int("os_pid", p.pid), zap.String("path", p.ref.Path))
	return nil
}

// checkDescription refuses a plugin that serves something else than what
// was asked, or something else than it served before.
func (p *proc) checkDescription(d *pb.DescribeResponse) error {
	switch {
	case d.GetProtocol() != pb.Protocol:
		return fmt.Errorf("plugin speaks protocol %d, host %d", d.GetProtocol(), pb.Protocol)
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
// crashed, hung or lied): the process is killed, and the next call starts
// a new one. hard kills without waiting for a graceful exit (a hung
// plugin does not exit gracefully).
func (p *proc) failed(c *goplugin.Client, err error, hard bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != c {
		return // another call noticed first
	}
	if hard && p.pid > 0 {
		if os, err := os.FindProcess(p.pid); err == nil {
			_ = os.Kill()
		}
	}
	p.failLocked(c, err)
}

func (p *proc) failLocked(c *goplugin.Client, err error) {
	p.log.Error("plugin process failed", zap.String("module", p.ref.Module),
		zap.String("version", p.ref.Version), zap.Int("os_pid", p.pid), zap.Error(err))
	p.client, p.stub = nil, nil
	p.fails++
	p.lastErr = err
	p.retryAt = p.now().Add(p.o.backoff(p.fails))
	c.Kill()
}

// worked records a call that succeeded: failures no longer count.
func (p *proc) worked() {
	p.mu.Lock()
	p.fails, p.retryAt, p.lastErr = 0, time.Time{}, nil
	p.mu.Unlock()
}

// stop ends the process, if running; why is logged. close forbids starting
// another (the system has stopped, or the version was released): later
// calls fail with ErrUnavailable and why.
func (p *proc) stop(why string, close bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if close && p.closed == "" {
		p.closed = why
	}
	if p.client == nil {
		return
	}
	p.client.Kill()
	p.log.Info("plugin process stopped", zap.String("module", p.ref.Module),
		zap.String("version", p.ref.Version), zap.Int("os_pid", p.pid), zap.String("why", why))
	p.client, p.stub, p.pid = nil, nil, 0
}

// osPID returns the process's OS PID, 0 when not running.
func (p *proc) osPID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil || p.client.Exited() {
		return 0
	}
	return p.pid
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
