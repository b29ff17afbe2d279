package sdk

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/graftrt/graft/upgrade/plugin/codec"
	"github.com/graftrt/graft/upgrade/plugin/internal/pb"
)

// Module is one version of a module, written once with typed state S and
// messages M. Handle is required; the rest is optional.
type Module[S, M any] struct {
	// Name and Version identify the version; the host refuses the
	// executable unless they are what it was asked to load.
	Name, Version string
	// Follows names the version this one comes after in the module's
	// lineage ("" for the first); UpgradesFrom and DowngradesTo add steps
	// (see actor.Lineage). The host moves processes between versions
	// only along declared steps.
	Follows                    string
	UpgradesFrom, DowngradesTo []string
	// Lenient lets the default CodeChange (none given) decode an older
	// state with unknown or missing fields, for a shape that only gained
	// or lost fields on purpose. By default states decode strictly
	// (codec.DecodeStrict): a shape this version does not describe is an
	// error, never data silently dropped.
	Lenient bool
	// Codec encodes the state and replies (default codec.JSON). The host
	// encodes messages, spawn arguments and migration inputs with it too.
	Codec codec.Codec
	// Errors gives errors an identity that crosses to the host: a code. An
	// error a callback returns, or a call is answered with (ReplyError),
	// that is one of these (errors.Is) carries its code, and on the host
	// errors.Is matches it against the error registered there under the
	// same code (plugin.WithErrors); the host also sees the code itself
	// (plugin.HandlerError.Code, plugin.ReplyError.Code). Only the code and
	// the message cross: an error's other fields do not (answer a call
	// with a value for that). Declare the table once, in a package both
	// sides import, next to the errors. Codes must not be empty; an error
	// that matches several gets the first code in sorted order.
	Errors map[string]error

	// Init builds a new process's state from its spawn arguments (an empty
	// Raw when there were none). Default: the zero S.
	Init func(args codec.Raw) (S, error)
	// Handle handles one message and returns the next state. Return
	// Normal to stop the process normally, any other error to stop it
	// with that reason. Answer a call with ctx.Reply.
	Handle func(ctx *Context, state S, msg M) (S, error)
	// CodeChange migrates the state of an older version from, in whatever
	// codec that version used (see Migrate). Default: decode the old state
	// into S as it is, strictly unless Lenient.
	CodeChange func(from string, old, extra codec.Raw) (S, error)
	// Downgrade turns this version's state into the older version to's,
	// which the host hands to that version. Without it, downgrades from
	// this version are refused.
	Downgrade func(to string, state S, extra codec.Raw) (any, error)
}

// Normal stops the process normally when returned by Handle.
var Normal = errors.New("normal")

// Context is what Handle sees of the message it handles. It is valid only
// during that call.
type Context struct {
	module, version string
	call            bool
	reply           *pb.Reply
	codec           codec.Codec
	codes           *codes
}

// Module and Version name the version handling the message.
func (c *Context) Module() string  { return c.module }
func (c *Context) Version() string { return c.version }

// IsCall reports whether the message is a call still waiting for a reply.
func (c *Context) IsCall() bool { return c.call && !c.reply.Set }

// Reply answers the call with v, encoded with the module's codec; the
// caller receives a codec.Raw. Without a pending call it does nothing. An
// error is returned if v does not encode.
func (c *Context) Reply(v any) error {
	if !c.IsCall() {
		return nil
	}
	data, err := c.codec.Marshal(v)
	if err != nil {
		return err
	}
	c.reply.Set, c.reply.Body = true, &pb.Blob{Codec: c.codec.Name(), Data: data}
	return nil
}

// ReplyError answers the call with err: the caller receives a
// *plugin.ReplyError with err's message and, if err is one of the
// module's Errors, its code (errors.Is then matches the error the host
// registered under that code).
func (c *Context) ReplyError(err error) {
	if c.IsCall() {
		c.reply.Set, c.reply.Error, c.reply.Code = true, err.Error(), c.codes.of(err)
	}
}

// Migrate adapts a typed migration from state A (decoded strictly from
// the old state, whatever codec wrote it) to B into the shape of
// CodeChange.
func Migrate[A, B any](f func(old A, extra codec.Raw) (B, error)) func(from string, old, extra codec.Raw) (B, error) {
	return func(from string, old, extra codec.Raw) (B, error) {
		a, err := codec.DecodeStrict[A](old)
		if err != nil {
			var zero B
			return zero, fmt.Errorf("decoding the state of %s: %w", from, err)
		}
		return f(a, extra)
	}
}

// Serve serves m to the host that started this executable and returns when
// the host is done with it (it stops the plugin, or goes away). Call it
// from main. Run by hand, outside a host, it prints a note and exits with
// status 1.
func Serve[S, M any](m Module[S, M]) {
	if err := m.check(); err != nil {
		fmt.Fprintln(os.Stderr, "graft plugin:", err)
		os.Exit(1)
	}
	go exitWithParent(os.Getppid())
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: pb.Handshake,
		Plugins:         goplugin.PluginSet{pb.Name: &pb.Plugin{Impl: newServer(m)}},
		GRPCServer:      pb.NewServer,
	})
}

// exitWithParent ends the plugin if the host dies without stopping it
// (SIGKILL, say): no plugin process outlives its host.
func exitWithParent(ppid int) {
	for range time.Tick(time.Second) {
		if os.Getppid() != ppid {
			os.Exit(2)
		}
	}
}

func (m *Module[S, M]) check() error {
	switch {
	case m.Name == "" || m.Version == "":
		return errors.New("module name and version are required")
	case m.Handle == nil:
		return fmt.Errorf("%s@%s has no Handle", m.Name, m.Version)
	}
	for code, err := range m.Errors {
		switch {
		case code == "":
			return fmt.Errorf("%s@%s: an error has an empty code", m.Name, m.Version)
		case err == nil:
			return fmt.Errorf("%s@%s: error code %q has no error", m.Name, m.Version, code)
		}
	}
	if m.Codec == nil {
		m.Codec = codec.JSON
	}
	return nil
}

// server implements the Module service over m.
type server[S, M any] struct {
	pb.UnimplementedModuleServer
	m     Module[S, M]
	codes *codes
}

// newServer serves m, checked.
func newServer[S, M any](m Module[S, M]) *server[S, M] {
	return &server[S, M]{m: m, codes: newCodes(m.Errors)}
}

// codes is a module's Errors, in the order codes are looked up.
type codes struct {
	names []string
	errs  []error
}

func newCodes(errs map[string]error) *codes {
	c := &codes{names: slices.Sorted(maps.Keys(errs))}
	for _, name := range c.names {
		c.errs = append(c.errs, errs[name])
	}
	return c
}

// of returns the code of err: the first registered error it is
// (errors.Is), "" if none.
func (c *codes) of(err error) string {
	for i, e := range c.errs {
		if errors.Is(err, e) {
			return c.names[i]
		}
	}
	return ""
}

func (s *server[S, M]) Describe(_ context.Context, req *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{
		Protocol: pb.Protocol, Module: s.m.Name, Version: s.m.Version, Codec: s.m.Codec.Name(),
		CodeChange: s.m.CodeChange != nil, Downgrade: s.m.Downgrade != nil,
		Follows: s.m.Follows, UpgradesFrom: s.m.UpgradesFrom, DowngradesTo: s.m.DowngradesTo, Lenient: s.m.Lenient,
	}, nil
}

func (s *server[S, M]) Init(_ context.Context, req *pb.InitRequest) (*pb.InitResponse, error) {
	var st S
	f := s.guard(func() error {
		if s.m.Init == nil {
			return nil
		}
		var err error
		st, err = s.m.Init(raw(req.GetArgs()))
		return err
	})
	if f != nil {
		return &pb.InitResponse{Failure: f}, nil
	}
	blob, f := s.encode(st)
	return &pb.InitResponse{State: blob, Failure: f}, nil
}

func (s *server[S, M]) Handle(_ context.Context, req *pb.HandleRequest) (*pb.HandleResponse, error) {
	resp := &pb.HandleResponse{}
	st, err := codec.DecodeStrict[S](raw(req.GetState()))
	if err != nil {
		resp.Failure = decodeFailure("state", err)
		return resp, nil
	}
	ctx := &Context{module: s.m.Name, version: s.m.Version, codec: s.m.Codec, codes: s.codes}
	for _, msg := range req.GetMessages() {
		reply := &pb.Reply{}
		resp.Replies = append(resp.Replies, reply)
		resp.Done++
		m, err := codec.Decode[M](raw(msg.GetBody()))
		if err != nil {
			resp.Failure = decodeFailure("message", err)
			break
		}
		ctx.call, ctx.reply = msg.GetCall(), reply
		if resp.Failure = s.guard(func() error {
			var err error
			st, err = s.m.Handle(ctx, st, m)
			return err
		}); resp.Failure != nil {
			break
		}
	}
	// The state goes back even after a failure: it is what the host's
	// Terminate sees, as with a compiled-in version.
	blob, f := s.encode(st)
	resp.State = blob
	if resp.Failure == nil {
		resp.Failure = f
	}
	return resp, nil
}

func (s *server[S, M]) CodeChange(_ context.Context, req *pb.CodeChangeRequest) (*pb.StateResponse, error) {
	var st S
	f := s.guard(func() error {
		var err error
		if s.m.CodeChange == nil {
			if s.m.Lenient {
				st, err = codec.Decode[S](raw(req.GetState()))
			} else {
				st, err = codec.DecodeStrict[S](raw(req.GetState()))
			}
			return err
		}
		st, err = s.m.CodeChange(req.GetFrom(), raw(req.GetState()), raw(req.GetExtra()))
		return err
	})
	return s.stateResponse(st, f), nil
}

func (s *server[S, M]) Downgrade(_ context.Context, req *pb.DowngradeRequest) (*pb.StateResponse, error) {
	if s.m.Downgrade == nil {
		return &pb.StateResponse{Failure: &pb.Failure{Kind: pb.Failure_ERROR,
			Message: fmt.Sprintf("%s@%s has no Downgrade", s.m.Name, s.m.Version)}}, nil
	}
	var out any
	f := s.guard(func() error {
		st, err := codec.DecodeStrict[S](raw(req.GetState()))
		if err != nil {
			return err
		}
		out, err = s.m.Downgrade(req.GetTo(), st, raw(req.GetExtra()))
		return err
	})
	return s.stateResponse(out, f), nil
}

func (s *server[S, M]) stateResponse(st any, f *pb.Failure) *pb.StateResponse {
	if f != nil {
		return &pb.StateResponse{Failure: f}
	}
	blob, f := s.encode(st)
	return &pb.StateResponse{State: blob, Failure: f}
}

func (s *server[S, M]) encode(v any) (*pb.Blob, *pb.Failure) {
	data, err := s.m.Codec.Marshal(v)
	if err != nil {
		return nil, &pb.Failure{Kind: pb.Failure_ERROR, Message: "encoding the state: " + err.Error()}
	}
	return &pb.Blob{Codec: s.m.Codec.Name(), Data: data}, nil
}

// guard runs a callback: an error or a panic becomes a Failure, with the
// code of a registered error; the plugin process survives both.
func (s *server[S, M]) guard(f func() error) (failure *pb.Failure) {
	defer func() {
		if r := recover(); r != nil {
			failure = &pb.Failure{Kind: pb.Failure_PANIC, Message: fmt.Sprint(r), Stack: string(debug.Stack())}
			if err, ok := r.(error); ok {
				failure.Code = s.codes.of(err)
			}
		}
	}()
	switch err := f(); {
	case err == nil:
		return nil
	case errors.Is(err, Normal):
		return &pb.Failure{Kind: pb.Failure_NORMAL}
	default:
		return &pb.Failure{Kind: pb.Failure_ERROR, Message: err.Error(), Code: s.codes.of(err)}
	}
}

func decodeFailure(what string, err error) *pb.Failure {
	return &pb.Failure{Kind: pb.Failure_DECODE, Message: fmt.Sprintf("decoding the %s: %v", what, err)}
}

// raw turns a blob into a Raw; a missing blob is an empty JSON value.
func raw(b *pb.Blob) codec.Raw {
	if b == nil {
		return codec.Raw{Codec: "json"}
	}
	return codec.Raw{Codec: b.GetCodec(), Data: b.GetData()}
}
