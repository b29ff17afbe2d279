package upgrade_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor/actortest"
	"github.com/graftrt/graft/upgrade"
)

func TestParseAndResolvePlan(t *testing.T) {
	spec, err := upgrade.ParsePlan([]byte(`{"mode": "rolling", "timeout": "2s", "waves": [0.5, 1],
		"gate": {"observe": "10ms", "max_crashes": 2}, "changes": [{"module": "n", "version": "v2"}]}`))
	require.NoError(t, err)
	sys := actortest.NewSystem(t)
	n := chain("n", 2)
	v1, v2 := n[0], n[1]
	require.NoError(t, sys.Load(v1))
	plan, err := spec.Resolve(context.Background(), sys.System, upgrade.NewNative(v1, v2))
	require.NoError(t, err)
	assert.Equal(t, upgrade.Rolling, plan.Mode)
	assert.Equal(t, 2*time.Second, plan.Timeout)
	assert.Equal(t, upgrade.Gate{Observe: 10 * time.Millisecond, MaxCrashes: 2}, plan.Gate)
	assert.Same(t, v2, plan.Changes[0].To)

	bad, err := upgrade.ParsePlan([]byte(`{"changes": [{"module": "n", "version": "v9"}]}`))
	require.NoError(t, err, "syntax is fine")
	_, err = bad.Resolve(context.Background(), sys.System, upgrade.NewNative(v1, v2))
	assert.ErrorIs(t, err, upgrade.ErrUnknownVersion)
}

func TestParsePlanRefusesGarbage(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":       `{`,
		"dry_run mode":   `{"mode": "dry_run", "changes": [{"module": "n", "version": "v2"}]}`,
		"waves falling":  `{"mode": "rolling", "waves": [0.5, 0.2, 1], "changes": [{"module": "n", "version": "v2"}]}`,
		"waves past one": `{"mode": "rolling", "waves": [5, 1], "changes": [{"module": "n", "version": "v2"}]}`,
		"negative wave":  `{"mode": "rolling", "waves": [-1, 1], "changes": [{"module": "n", "version": "v2"}]}`,
		"same module":    `{"changes": [{"module": "n", "version": "v2"}, {"module": "n", "version": "v3"}]}`,
		"waves atomic":   `{"waves": [1], "changes": [{"module": "n", "version": "v2"}]}`,
		"bad policy":     `{"stragglers": "ignore", "changes": [{"module": "n", "version": "v2"}]}`,
		"unknown field":  `{"changes": [{"module": "n", "version": "v2"}], "force": true}`,
		"two values":     `{"changes": [{"module": "n", "version": "v2"}]} {}`,
		"unknown mode":   `{"mode": "yolo", "changes": [{"module": "n", "version": "v2"}]}`,
		"bad timeout":    `{"timeout": "soon", "changes": [{"module": "n", "version": "v2"}]}`,
		"negative":       `{"timeout": "-1s", "changes": [{"module": "n", "version": "v2"}]}`,
		"no changes":     `{"mode": "atomic"}`,
		"no version":     `{"changes": [{"module": "n"}]}`,
		"negative crash": `{"gate": {"max_crashes": -1}, "changes": [{"module": "n", "version": "v2"}]}`,
		"wrong type":     `{"changes": "all"}`,
	} {
		_, err := upgrade.ParsePlan([]byte(doc))
		assert.ErrorIs(t, err, upgrade.ErrInvalidPlan, name)
	}
}

// Plans from anywhere (the admin API, a file) are parsed by ParsePlan:
// whatever the bytes, it returns a spec or an ErrInvalidPlan, never
// panics, and a spec it accepts survives a round trip through JSON.
func FuzzParsePlan(f *testing.F) {
	f.Add([]byte(`{"mode": "rolling", "timeout": "2s", "waves": [0.5, 1], "gate": {"observe": "10ms"}, "changes": [{"module": "n", "version": "v2"}]}`))
	f.Add([]byte(`{"changes": [{"module": "n", "version": "v2", "path": "/p", "checksum": "00"}]}`))
	f.Add([]byte(`{"mode": "lazy", "timeout": "-1s"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := upgrade.ParsePlan(data)
		if err != nil {
			if !errors.Is(err, upgrade.ErrInvalidPlan) {
				t.Fatalf("error %v does not wrap ErrInvalidPlan", err)
			}
			return
		}
		again, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := upgrade.ParsePlan(again); err != nil {
			t.Fatalf("accepted %q, refused its re-encoding %q: %v", data, again, err)
		}
	})
}
