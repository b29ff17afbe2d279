package admin_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/supervisor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The test service: accounts under a simple_one_for_one inside a
// one_for_one root. v2 changes the state's shape and shows it to
// operators; v3's migration fails.
type (
	balanceV1 int64
	balanceV2 struct {
		Balance int64
		Secret  string
	}
	deposit struct{ N int64 }
	get     struct{}
	crash   struct{}
)

func (b balanceV2) InspectState() any { return map[string]int64{"balance": b.Balance} }

var errCodeChange = errors.New("v3 cannot read this state")

func handleV1(ctx *actor.Context, b balanceV1, msg any) (balanceV1, error) {
	switch m := msg.(type) {
	case deposit:
		b += balanceV1(m.N)
	case get:
		ctx.Reply(int64(b))
	case crash:
		panic("crash requested")
	}
	return b, nil
}

func handleV2(ctx *actor.Context, b balanceV2, msg any) (balanceV2, error) {
	switch m := msg.(type) {
	case deposit:
		b.Balance += m.N
	case get:
		ctx.Reply(b.Balance)
	case crash:
		panic("crash requested")
	}
	return b, nil
}

var (
	acctV1 = actor.Define("acct", "v1", actor.Funcs[balanceV1]{Handle: handleV1,
		Init: func(*actor.Context, any) (balanceV1, error) { return 0, nil }})
	acctV2 = actor.Define("acct", "v2", actor.Funcs[balanceV2]{Follows: "v1", Handle: handleV2,
		CodeChange: actor.Migrate(func(b balanceV1, _ any) (balanceV2, error) { return balanceV2{Balance: int64(b), Secret: "pin"}, nil }),
		Downgrade:  func(_ string, b balanceV2, _ any) (any, error) { return balanceV1(b.Balance), nil },
		Init:       func(*actor.Context, any) (balanceV2, error) { return balanceV2{}, nil }})
	acctV3 = actor.Define("acct", "v3", actor.Funcs[balanceV2]{Follows: "v2", Handle: handleV2,
		CodeChange: actor.Migrate(func(b balanceV2, _ any) (balanceV2, error) { return b, errCodeChange }),
		Downgrade:  func(_ string, b balanceV2, _ any) (any, error) { return b, nil },
		Init:       func(*actor.Context, any) (balanceV2, error) { return balanceV2{}, nil }})
)

type rig struct {
	sys      *actortest.System
	srv      *admin.Server
	top      *supervisor.Handle
	accounts []actor.PID
	client   *http.Client
}

// newRig starts the service with n accounts and the admin API on its own
// loopback listener.
func newRig(t *testing.T, n int, opts ...func(*admin.Options)) *rig {
	t.Helper()
	sys := actortest.NewSystem(t)
	require.NoError(t, sys.Load(acctV1))
	accounts := supervisor.Spec("accounts", supervisor.Flags{Strategy: supervisor.SimpleOneForOne, Intensity: 100, Period: 1e9},
		[]supervisor.ChildSpec{{Start: supervisor.StartSpec{Module: "acct"}, Restart: supervisor.Permanent}})
	top, err := supervisor.Start(sys.System, supervisor.Flags{Intensity: 10, Period: 1e9},
		[]supervisor.ChildSpec{accounts}, actor.WithName("bank"))
	require.NoError(t, err)
	kids, err := top.WhichChildren(t.Context())
	require.NoError(t, err)
	accSup := supervisor.Of(sys.System, kids[0].PID)
	r := &rig{sys: sys, top: top, client: &http.Client{}}
	for i := range n {
		pid, err := accSup.StartSimpleChild(t.Context(), nil, supervisor.SpawnOptions(actor.WithName(fmt.Sprintf("acct:%d", i))))
		require.NoError(t, err)
		r.accounts = append(r.accounts, pid)
	}
	o := admin.Options{Addr: "127.0.0.1:0", TokenFile: t.TempDir() + "/token", Supervisors: []*supervisor.Handle{top},
		Versions: []*actor.Version{acctV1, acctV2, acctV3}, Node: "test"}
	for _, f := range opts {
		f(&o)
	}
	r.srv, err = admin.Start(sys.System, o)
	require.NoError(t, err)
	t.Cleanup(func() {
		r.client.CloseIdleConnections()
		require.NoError(t, r.srv.Close(context.Background()))
	})
	return r
}

// do sends a request with the token and returns the status and body.
func (r *rig) do(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	return r.doToken(t, method, path, body, r.srv.Token())
}

func (r *rig) doToken(t *testing.T, method, path string, body any, token string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, r.srv.URL()+path, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// getJSON GETs path (200 expected) into v.
func (r *rig) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	status, b := r.do(t, http.MethodGet, path, nil)
	require.Equal(t, http.StatusOK, status, string(b))
	require.NoError(t, json.Unmarshal(b, v), string(b))
}

// errorOf decodes an Error body.
func errorOf(t *testing.T, b []byte) string {
	t.Helper()
	var e admin.Error
	require.NoError(t, json.Unmarshal(b, &e), string(b))
	require.NotEmpty(t, e.Error)
	return e.Error
}

// events opens the event stream; next returns the next event.
func (r *rig) events(t *testing.T, query string) (next func() admin.Event) {
	t.Helper()
	next, _ = r.stream(t, query)
	return next
}

// stream opens the event stream; next returns the next event, and ended
// is closed when the server ends the stream and every event before the
// end was read.
func (r *rig) stream(t *testing.T, query string) (next func() admin.Event, ended <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.srv.URL()+"/api/v1/events"+query, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+r.srv.Token())
	resp, err := r.client.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	got := make(chan admin.Event, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(got)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var e admin.Event
				if json.Unmarshal([]byte(data), &e) == nil {
					got <- e
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return func() admin.Event {
		t.Helper()
		select {
		case e, ok := <-got:
			require.True(t, ok, "the stream ended")
			return e
		case <-time.After(actortest.DefaultWait):
			t.Fatal("no event within the wait")
		}
		return admin.Event{}
	}, done
}

func parseFloat(t *testing.T, s string) float64 {
	t.Helper()
	var f float64
	_, err := fmt.Sscan(s, &f)
	require.NoError(t, err)
	return f
}
