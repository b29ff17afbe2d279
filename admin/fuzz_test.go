package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/supervisor"
	"github.com/graftrt/graft/upgrade"
)

// FuzzPlanEndpoint posts arbitrary bodies as plans. Whatever the body,
// the answer is a JSON document with a status the API documents, never a
// 5xx; a refused body changes nothing; an accepted one ends in an outcome.
func FuzzPlanEndpoint(f *testing.F) {
	for _, seed := range []string{
		`{"changes":[{"module":"acct","version":"v2"}]}`,
		`{"changes":[{"module":"acct","version":"v1"}]}`,
		`{"mode":"rolling","waves":[0.5,1],"gate":{"observe":"1ms"},"changes":[{"module":"acct","version":"v2"}]}`,
		`{"mode":"lazy","timeout":"10ms","changes":[{"module":"acct","version":"v2"}]}`,
		`{"dry_run":true,"changes":[{"module":"acct","version":"v3"}]}`,
		`{"changes":[{"module":"acct","version":"v2","path":"/nonexistent","checksum":"ab"}]}`,
		`{"changes":[{"module":"acct","version":"v2"},{"module":"acct","version":"v1"}]}`,
		`{"stragglers":"kill","on_timeout":"skip","changes":[{"module":"acct","version":"v2"}]}`,
		`{"mode":"rolling","waves":[0.5,0.2,1],"changes":[{"module":"acct","version":"v2"}]}`,
		`{"changes":[]}`, `[]`, `null`, `{"changes":[{"module":"","version":""}]}`, "\x00", `{"timeout":"-1s"}`,
	} {
		f.Add([]byte(seed))
	}
	sys := actor.NewSystem(actor.WithLogger(zap.NewNop()))
	defer sys.Shutdown(context.Background())
	require.NoError(f, sys.Load(acctV1))
	top, err := supervisor.Start(sys, supervisor.Flags{Strategy: supervisor.SimpleOneForOne},
		[]supervisor.ChildSpec{{Start: supervisor.StartSpec{Module: "acct"}}})
	require.NoError(f, err)
	for range 4 {
		_, err := top.StartSimpleChild(context.Background(), nil)
		require.NoError(f, err)
	}
	srv, err := admin.New(sys, admin.Options{Token: "t", Supervisors: []*supervisor.Handle{top},
		Versions: []*actor.Version{acctV1, acctV2, acctV3}, MaxBody: 4096})
	require.NoError(f, err)
	defer srv.Close(context.Background())

	f.Fuzz(func(t *testing.T, body []byte) {
		// Plans that would take long are the runner's business, not the
		// endpoint's: keep each input quick.
		if spec, err := upgrade.ParsePlan(body); err == nil && slow(spec) {
			t.Skip()
		}
		before := sys.Modules()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/upgrades?wait=1", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		require.NoError(t, ctx.Err(), "no answer for %q", body)
		switch rec.Code {
		case http.StatusOK:
			var u admin.Upgrade
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &u))
			assert.True(t, u.Done())
			assert.Contains(t, []string{"committed", "rolled_back", "simulated", "converged", "unconverged", "refused"}, u.State)
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			var e admin.Error
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), rec.Body.String())
			assert.NotEmpty(t, e.Error)
			assert.Equal(t, before, sys.Modules(), "a refused plan changes nothing")
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}

// slow reports a plan whose durations or waves would make one input take
// more than a moment.
func slow(s upgrade.PlanSpec) bool {
	// Zero durations are the defaults: 5 s for a timeout, 1 s for a gate.
	long := func(d string) bool { v, _ := time.ParseDuration(d); return v == 0 || v > 50*time.Millisecond }
	return (s.Mode == "lazy" && long(s.Timeout)) || (s.Timeout != "" && long(s.Timeout)) ||
		(s.Mode == "rolling" && (s.Gate == nil || long(s.Gate.Observe) || len(s.Waves) > 4))
}
