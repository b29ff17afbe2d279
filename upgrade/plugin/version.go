package plugin

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/upgrade/plugin/codec"
	"github.com/graftrt/graft/upgrade/plugin/internal/pb"
)

// HandlerError is an error or a panic in a plugin's callback, reported by
// the plugin (whose process goes on). As an exit reason it stops only the
// process whose message failed.
type HandlerError struct {
	Version string // "module@version"
	Panic   bool
	Message string
	Stack   string // the plugin's stack, for a panic
	// Code is the code the plugin's module gave the error
	// (sdk.Module.Errors), "" if none; Err is the error the host
	// registered under it (WithErrors), which Unwrap returns, nil if none.
	Code string
	Err  error
}

func (e *HandlerError) Error() string {
	if e.Panic {
		return fmt.Sprintf("plugin %s panicked: %s", e.Version, e.Message)
	}
	return fmt.Sprintf("plugin %s: %s", e.Version, e.Message)
}

// Unwrap returns the host's error for the plugin's code: errors.Is(err,
// ErrInsufficient) holds when the plugin failed with its own
// ErrInsufficient and both sides registered it under one code.
func (e *HandlerError) Unwrap() error { return e.Err }

// ReplyError is an error a plugin answered a call with
// (sdk.Context.ReplyError): what the caller receives.
type ReplyError struct {
	Version string // "module@version"
	Message string // the error's text in the plugin
	// Code is the code the plugin's module gave the error
	// (sdk.Module.Errors), "" if none; Err is the error the host
	// registered under it (WithErrors), which Unwrap returns, nil if none.
	Code string
	Err  error
}

// Error is the plugin's message, as the error's own Error would have said
// in process.
func (e *ReplyError) Error() string { return e.Message }

// Unwrap returns the host's error for the plugin's code.
func (e *ReplyError) Unwrap() error { return e.Err }

// behaviour is a plugin version as the runtime sees it: every callback is a
// call into the plugin process, with the state crossing as a codec.Raw
// (which is what the host keeps as the process's state).
type behaviour struct {
	p     *proc
	codec codec.Codec
	codes map[string]error // the host's errors by code (WithErrors)
}

// downgrader is a behaviour whose plugin declared a Downgrade.
type downgrader struct{ *behaviour }

func newVersion(p *proc) *actor.Version {
	c, _ := codec.ByName(p.desc.GetCodec()) // checked in the handshake
	b := &behaviour{p: p, codec: c, codes: p.o.errors[p.ref.Module]}
	if p.desc.GetDowngrade() {
		return actor.NewVersion(p.ref.Module, p.ref.Version, downgrader{b})
	}
	return actor.NewVersion(p.ref.Module, p.ref.Version, b)
}

// Retire stops the plugin process when the version retires in its system
// (not current, no activation); a later use starts one again.
func (b *behaviour) Retire() { b.p.stop(context.Background(), "version retired", false) }

// Release takes the version out of the registry when it leaves its
// system's module table, stopping its process; a later use (a plan staging
// the version again) starts one and lists it again.
func (b *behaviour) Release() { b.p.reg.unlist(b.p) }

// Lineage is what the plugin declared in its handshake.
func (b *behaviour) Lineage() actor.Lineage {
	return actor.Lineage{Follows: b.p.desc.GetFollows(), UpgradesFrom: b.p.desc.GetUpgradesFrom(),
		DowngradesTo: b.p.desc.GetDowngradesTo()}
}

func (b *behaviour) MaxBatch() int { return b.p.o.maxBatch }

func (b *behaviour) Init(_ *actor.Context, args any) (any, error) {
	blob, err := b.encode(args, "spawn arguments")
	if err != nil {
		return nil, err
	}
	var resp *pb.InitResponse
	err = b.call(func(ctx context.Context, c pb.ModuleClient) (err error) {
		if resp, err = c.Init(ctx, &pb.InitRequest{Args: blob}); err != nil {
			return err
		}
		return b.nonsense(resp.GetState(), resp.GetFailure())
	})
	if err != nil {
		return nil, err
	}
	return b.state(resp.GetState(), resp.GetFailure())
}

// Handle handles one message; the receive loop uses HandleBatch, this is
// for completeness of actor.Behaviour.
func (b *behaviour) Handle(ctx *actor.Context, state, msg any) (any, error) {
	body, err := b.encode(msg, "message")
	if err != nil {
		return state, err
	}
	resp, err := b.handle(state, []*pb.Message{{Body: body, Call: ctx.IsCall()}})
	if err != nil {
		return state, err
	}
	if rs := resp.GetReplies(); len(rs) == 1 && rs[0].GetSet() {
		if err := b.replyError(rs[0]); err != nil {
			ctx.ReplyError(err)
		} else {
			ctx.Reply(raw(rs[0].GetBody()))
		}
	}
	return b.state(resp.GetState(), resp.GetFailure())
}

// HandleBatch sends the batch in one call. A message that does not encode
// ends the batch: the ones before it are handled, and it fails the process
// with ErrEncode, as a message a compiled-in handler cannot handle would.
func (b *behaviour) HandleBatch(_ *actor.Context, state any, batch *actor.Batch) (any, int, error) {
	msgs := make([]*pb.Message, 0, batch.Len())
	var encErr error
	for i := range batch.Len() {
		body, err := b.encode(batch.Message(i), "message")
		if err != nil {
			encErr = err
			break
		}
		msgs = append(msgs, &pb.Message{Body: body, Call: batch.IsCall(i)})
	}
	if len(msgs) == 0 {
		return state, 1, encErr
	}
	resp, err := b.handle(state, msgs)
	if err != nil {
		return state, 0, err
	}
	done := int(resp.GetDone())
	replies := resp.GetReplies()
	if done > len(msgs) || len(replies) > done || (resp.GetFailure() == nil && done != len(msgs)) {
		return state, 0, fmt.Errorf("%w: %s handled %d of %d messages with %d replies",
			ErrBadResponse, b.p.ref, done, len(msgs), len(replies))
	}
	next, err := b.state(resp.GetState(), resp.GetFailure())
	if next == nil {
		next = state
	}
	for i, r := range replies {
		if !r.GetSet() {
			continue
		}
		if err := b.replyError(r); err != nil {
			batch.ReplyError(i, err)
		} else {
			batch.Reply(i, raw(r.GetBody()))
		}
	}
	if err == nil && encErr != nil {
		return next, done + 1, encErr
	}
	return next, done, err
}

func (b *behaviour) handle(state any, msgs []*pb.Message) (*pb.HandleResponse, error) {
	st, ok := asRaw(state).(codec.Raw)
	if !ok {
		return nil, fmt.Errorf("%w: %s holds a %T, not its encoded state", actor.ErrStateType, b.p.ref, state)
	}
	var resp *pb.HandleResponse
	err := b.call(func(ctx context.Context, c pb.ModuleClient) (err error) {
		if resp, err = c.Handle(ctx, &pb.HandleRequest{State: blob(st), Messages: msgs}); err != nil {
			return err
		}
		done, replies := int(resp.GetDone()), resp.GetReplies()
		if done > len(msgs) || len(replies) > done || (resp.GetFailure() == nil && done != len(msgs)) {
			return fmt.Errorf("%w: %s handled %d of %d messages with %d replies",
				ErrBadResponse, b.p.ref, done, len(msgs), len(replies))
		}
		return b.nonsense(resp.GetState(), resp.GetFailure())
	})
	return resp, err
}

// CodeChange migrates a state built by an older version, compiled in (a Go
// value, encoded here with this version's codec) or another plugin (already
// encoded, in its own codec).
func (b *behaviour) CodeChange(from string, old, extra any) (any, error) {
	return b.migrate(old, extra, func(ctx context.Context, c pb.ModuleClient, st, ex *pb.Blob) (*pb.StateResponse, error) {
		return c.CodeChange(ctx, &pb.CodeChangeRequest{From: from, State: st, Extra: ex})
	})
}

// Downgrade hands the state back to an older version: a compiled-in one
// decodes the codec.Raw into its own type (actor.Encoded).
func (d downgrader) Downgrade(to string, state, extra any) (any, error) {
	return d.migrate(state, extra, func(ctx context.Context, c pb.ModuleClient, st, ex *pb.Blob) (*pb.StateResponse, error) {
		return c.Downgrade(ctx, &pb.DowngradeRequest{To: to, State: st, Extra: ex})
	})
}

// migrate encodes a state and an extra, runs rpc (CodeChange or
// Downgrade) and returns the state the plugin answered.
func (b *behaviour) migrate(state, extra any,
	rpc func(context.Context, pb.ModuleClient, *pb.Blob, *pb.Blob) (*pb.StateResponse, error)) (any, error) {
	st, err := b.encode(state, "state")
	if err != nil {
		return nil, err
	}
	ex, err := b.encode(extra, "extra")
	if err != nil {
		return nil, err
	}
	var resp *pb.StateResponse
	err = b.call(func(ctx context.Context, c pb.ModuleClient) (err error) {
		if resp, err = rpc(ctx, c, st, ex); err != nil {
			return err
		}
		return b.nonsense(resp.GetState(), resp.GetFailure())
	})
	if err != nil {
		return nil, err
	}
	return b.state(resp.GetState(), resp.GetFailure())
}

// call runs one RPC on the plugin process under the call timeout. A
// transport failure is the process's failure: it is killed (at once if it
// hung) and restarted on next use.
func (b *behaviour) call(rpc func(context.Context, pb.ModuleClient) error) error {
	c, err := b.p.get(context.Background())
	if err != nil {
		return transient{err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.p.o.callTimeout)
	defer cancel()
	err = rpc(ctx, c.stub)
	switch {
	case err == nil:
		b.p.worked()
		return nil
	case errors.Is(err, ErrBadResponse):
		// It answered, but nonsense: a process that lies is not trusted
		// with the next call. The version's code is at fault, not the
		// process's health, so the error is not transient.
		b.p.failed(c.c, err)
		return err
	case status.Code(err) == codes.ResourceExhausted:
		// Too large a request or answer: the plugin is not at fault.
		return fmt.Errorf("%w: %s: over the %d MiB message bound: %w", ErrEncode, b.p.ref, pb.MaxMessage>>20, err)
	case status.Code(err) == codes.DeadlineExceeded:
		err = fmt.Errorf("%w: %s after %v", ErrDeadline, b.p.ref, b.p.o.callTimeout)
		b.p.failed(c.c, err)
	default:
		err = fmt.Errorf("%w: %s: %w", ErrCrashed, b.p.ref, err)
		b.p.failed(c.c, err)
	}
	return transient{err}
}

// transient marks a failure of the plugin process rather than of the
// code it runs: the next call may well succeed on a new process. The
// runtime retries a migration that failed this way at the process's next
// message (actor's Temporary convention) instead of giving up on the
// version.
type transient struct{ error }

func (t transient) Temporary() bool { return true }
func (t transient) Unwrap() error   { return t.error }

// nonsense reports an answer whose state cannot be a state (see state)
// as an ErrBadResponse, so that call kills the process that gave it.
func (b *behaviour) nonsense(st *pb.Blob, f *pb.Failure) error {
	if _, err := b.state(st, f); errors.Is(err, ErrBadResponse) {
		return err
	}
	return nil
}

// state turns a plugin's answer into the next state, or the error it
// reports.
func (b *behaviour) state(st *pb.Blob, f *pb.Failure) (any, error) {
	var next any
	if st != nil {
		if _, err := codecOf(st.GetCodec()); err != nil {
			return nil, fmt.Errorf("%s: %w", b.p.ref, err)
		}
		next = raw(st)
	}
	switch f.GetKind() {
	case pb.Failure_NONE:
		if next == nil {
			return nil, fmt.Errorf("%w: %s returned no state", ErrBadResponse, b.p.ref)
		}
		return next, nil
	case pb.Failure_NORMAL:
		return next, actor.Normal
	default:
		return next, &HandlerError{Version: b.p.ref.String(), Panic: f.GetKind() == pb.Failure_PANIC,
			Message: f.GetMessage(), Stack: f.GetStack(), Code: f.GetCode(), Err: b.hostError(f.GetCode())}
	}
}

// replyError is the error a reply carries, nil for a value. (A reply
// with an error code but no message still is an error.)
func (b *behaviour) replyError(r *pb.Reply) error {
	if r.GetError() == "" && r.GetCode() == "" {
		return nil
	}
	return &ReplyError{Version: b.p.ref.String(), Message: r.GetError(), Code: r.GetCode(), Err: b.hostError(r.GetCode())}
}

// hostError is the host's error for a plugin's error code, nil if none.
func (b *behaviour) hostError(code string) error {
	if code == "" {
		return nil
	}
	return b.codes[code]
}

// encode encodes v for the plugin: a codec.Raw passes as it is (another
// plugin version's state, say); nil is an empty value.
func (b *behaviour) encode(v any, what string) (*pb.Blob, error) {
	switch v := asRaw(v).(type) {
	case nil:
		return nil, nil
	case codec.Raw:
		return blob(v), nil
	}
	data, err := b.codec.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w %s %T for %s: %w", ErrEncode, what, v, b.p.ref, err)
	}
	return &pb.Blob{Codec: b.codec.Name(), Data: data}, nil
}

func blob(r codec.Raw) *pb.Blob { return &pb.Blob{Codec: r.Codec, Data: r.Data} }

func raw(b *pb.Blob) codec.Raw { return codec.Raw{Codec: b.GetCodec(), Data: b.GetData()} }
