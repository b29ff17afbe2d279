package sdk

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/graftrt/graft/upgrade/plugin/codec"
	"github.com/graftrt/graft/upgrade/plugin/internal/pb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type msg struct{ Op string }

type state struct{ N int }

func testServer(t *testing.T, m Module[state, msg]) *server[state, msg] {
	t.Helper()
	m.Name, m.Version = "t", "v2"
	m.Handle = func(ctx *Context, s state, m msg) (state, error) {
		switch m.Op {
		case "inc":
			s.N++
		case "get":
			return s, ctx.Reply(s.N)
		case "refuse":
			ctx.ReplyError(errors.New("no"))
		case "fail":
			s.N = -1
			return s, errors.New("failed")
		case "panic":
			panic("boom")
		case "stop":
			return s, Normal
		}
		return s, nil
	}
	require.NoError(t, m.check())
	return newServer(m)
}

func blob(t *testing.T, v any) *pb.Blob {
	data, err := codec.JSON.Marshal(v)
	require.NoError(t, err)
	return &pb.Blob{Codec: "json", Data: data}
}

func handle(t *testing.T, s *server[state, msg], st state, calls map[int]bool, ops ...string) *pb.HandleResponse {
	t.Helper()
	req := &pb.HandleRequest{State: blob(t, st)}
	for i, op := range ops {
		req.Messages = append(req.Messages, &pb.Message{Body: blob(t, msg{Op: op}), Call: calls[i]})
	}
	resp, err := s.Handle(context.Background(), req)
	require.NoError(t, err)
	return resp
}

func decode(t *testing.T, b *pb.Blob) state {
	s, err := codec.Decode[state](raw(b))
	require.NoError(t, err)
	return s
}

func TestHandleRunsABatchInOrderWithReplies(t *testing.T) {
	s := testServer(t, Module[state, msg]{})
	resp := handle(t, s, state{N: 1}, map[int]bool{2: true, 3: true}, "inc", "inc", "get", "refuse")
	assert.Nil(t, resp.GetFailure())
	assert.Equal(t, uint32(4), resp.GetDone())
	assert.Equal(t, state{N: 3}, decode(t, resp.GetState()))
	require.Len(t, resp.GetReplies(), 4)
	assert.False(t, resp.GetReplies()[0].GetSet(), "a cast gets no reply")
	assert.Equal(t, "3", string(resp.GetReplies()[2].GetBody().GetData()))
	assert.Equal(t, "no", resp.GetReplies()[3].GetError())
}

func TestHandleStopsAtTheFirstFailure(t *testing.T) {
	s := testServer(t, Module[state, msg]{})
	for op, kind := range map[string]pb.Failure_Kind{
		"fail": pb.Failure_ERROR, "panic": pb.Failure_PANIC, "stop": pb.Failure_NORMAL,
	} {
		resp := handle(t, s, state{}, nil, "inc", op, "inc")
		assert.Equal(t, kind, resp.GetFailure().GetKind(), op)
		assert.Equal(t, uint32(2), resp.GetDone(), "%s: the failing message is consumed, the next is not", op)
		if op == "panic" {
			assert.Contains(t, resp.GetFailure().GetStack(), "sdk.TestHandleStopsAtTheFirstFailure")
			assert.Equal(t, state{N: 1}, decode(t, resp.GetState()), "the state before the panic")
		}
	}
	resp, err := s.Handle(context.Background(), &pb.HandleRequest{State: blob(t, state{}),
		Messages: []*pb.Message{{Body: &pb.Blob{Codec: "json", Data: []byte("{garbage")}}}})
	require.NoError(t, err)
	assert.Equal(t, pb.Failure_DECODE, resp.GetFailure().GetKind())
	resp, err = s.Handle(context.Background(), &pb.HandleRequest{State: &pb.Blob{Codec: "xml"}})
	require.NoError(t, err)
	assert.Equal(t, pb.Failure_DECODE, resp.GetFailure().GetKind(), "a state in an unknown codec")
}

func TestMigrations(t *testing.T) {
	type old struct{ Count int }
	s := testServer(t, Module[state, msg]{
		CodeChange: Migrate(func(o old, _ codec.Raw) (state, error) { return state{N: o.Count * 10}, nil }),
	})
	resp, err := s.CodeChange(context.Background(), &pb.CodeChangeRequest{From: "v1", State: blob(t, old{Count: 4})})
	require.NoError(t, err)
	assert.Equal(t, state{N: 40}, decode(t, resp.GetState()))
	resp, err = s.CodeChange(context.Background(), &pb.CodeChangeRequest{From: "v1", State: &pb.Blob{Codec: "json", Data: []byte("[]")}})
	require.NoError(t, err)
	assert.Equal(t, pb.Failure_ERROR, resp.GetFailure().GetKind(), "an old state that does not decode")

	// Without CodeChange the old state is decoded as it is; without
	// Downgrade, downgrades are refused.
	plain := testServer(t, Module[state, msg]{})
	resp, err = plain.CodeChange(context.Background(), &pb.CodeChangeRequest{From: "v1", State: blob(t, state{N: 7})})
	require.NoError(t, err)
	assert.Equal(t, state{N: 7}, decode(t, resp.GetState()))
	resp, err = plain.Downgrade(context.Background(), &pb.DowngradeRequest{To: "v1", State: blob(t, state{N: 7})})
	require.NoError(t, err)
	assert.Equal(t, pb.Failure_ERROR, resp.GetFailure().GetKind())

	desc, err := plain.Describe(context.Background(), &pb.DescribeRequest{Protocol: pb.Protocol})
	require.NoError(t, err)
	assert.Equal(t, &pb.DescribeResponse{Protocol: pb.Protocol, Module: "t", Version: "v2", Codec: "json"}, desc)
}

func TestInit(t *testing.T) {
	s := testServer(t, Module[state, msg]{Init: func(args codec.Raw) (state, error) {
		n, err := codec.Decode[int](args)
		return state{N: n}, err
	}})
	resp, err := s.Init(context.Background(), &pb.InitRequest{Args: blob(t, 5)})
	require.NoError(t, err)
	assert.Equal(t, state{N: 5}, decode(t, resp.GetState()))
	resp, err = s.Init(context.Background(), &pb.InitRequest{})
	require.NoError(t, err)
	assert.Equal(t, pb.Failure_ERROR, resp.GetFailure().GetKind(), "no arguments: this Init refuses")

	var m Module[state, msg]
	assert.Error(t, m.check(), "no name")
	m.Name, m.Version = "a", "v1"
	assert.Error(t, m.check(), "no handler")
}

var (
	errBroke = errors.New("broke")
	errLate  = errors.New("late")
)

func TestRegisteredErrorsCrossWithTheirCode(t *testing.T) {
	s := testServer(t, Module[state, msg]{Errors: map[string]error{"broke": errBroke, "late": errLate}})
	s.m.Handle = func(ctx *Context, st state, m msg) (state, error) {
		switch m.Op {
		case "refuse":
			ctx.ReplyError(fmt.Errorf("refusing: %w", errLate))
		case "refuse-plain":
			ctx.ReplyError(errors.New("no"))
		case "fail":
			return st, fmt.Errorf("step 2: %w", errBroke)
		case "both":
			return st, errors.Join(errLate, errBroke)
		case "panic":
			panic(errLate)
		case "fail-plain":
			return st, errors.New("plain")
		}
		return st, nil
	}
	resp := handle(t, s, state{}, map[int]bool{0: true, 1: true}, "refuse", "refuse-plain")
	require.Len(t, resp.GetReplies(), 2)
	assert.Equal(t, "refusing: late", resp.GetReplies()[0].GetError())
	assert.Equal(t, "late", resp.GetReplies()[0].GetCode())
	assert.Equal(t, "no", resp.GetReplies()[1].GetError())
	assert.Empty(t, resp.GetReplies()[1].GetCode(), "an error not registered has no code")
	for op, code := range map[string]string{"fail": "broke", "both": "broke", "panic": "late", "fail-plain": ""} {
		f := handle(t, s, state{}, nil, op).GetFailure()
		assert.Equal(t, code, f.GetCode(), op)
	}
	assert.Equal(t, "step 2: broke", handle(t, s, state{}, nil, "fail").GetFailure().GetMessage())

	for name, errs := range map[string]map[string]error{
		"empty code": {"": errBroke},
		"no error":   {"broke": nil},
	} {
		m := Module[state, msg]{Name: "t", Version: "v1", Handle: s.m.Handle, Errors: errs}
		assert.Error(t, m.check(), name)
	}
}

// A host (or anything that got hold of the socket) may send any bytes: the
// SDK answers with a failure, never panics, and never claims more messages
// handled than it was sent.
func FuzzHandle(f *testing.F) {
	f.Add("json", []byte(`{"N": 1}`), "json", []byte(`{"Op": "inc"}`), true)
	f.Add("gob", []byte{0x03, 0x04}, "json", []byte(`{"Op": "panic"}`), false)
	f.Add("xml", []byte(`<a/>`), "protobuf", []byte{0x08, 0x01}, true)
	f.Fuzz(func(t *testing.T, stateCodec string, stateBytes []byte, msgCodec string, msgBytes []byte, call bool) {
		s := testServer(t, Module[state, msg]{})
		body := &pb.Blob{Codec: msgCodec, Data: msgBytes}
		req := &pb.HandleRequest{State: &pb.Blob{Codec: stateCodec, Data: stateBytes},
			Messages: []*pb.Message{{Body: body, Call: call}, {Body: body}}}
		resp, err := s.Handle(context.Background(), req)
		require.NoError(t, err)
		assert.LessOrEqual(t, int(resp.GetDone()), 2)
		assert.LessOrEqual(t, len(resp.GetReplies()), int(resp.GetDone()))
		if resp.GetFailure() == nil {
			assert.Equal(t, uint32(2), resp.GetDone())
		}
		_, _ = s.CodeChange(context.Background(), &pb.CodeChangeRequest{From: "v1", State: req.State, Extra: req.Messages[0].Body})
		_, _ = s.Downgrade(context.Background(), &pb.DowngradeRequest{To: "v1", State: req.State})
	})
}
