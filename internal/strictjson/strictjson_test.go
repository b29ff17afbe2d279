package strictjson_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/graftrt/graft/internal/strictjson"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type item struct{ ID, Qty int }

type account struct {
	Balance int
	Note    string `json:",omitempty"`
	Since   int    `json:"since,omitzero"`
	Items   []item
	Tags    map[string]item
	Raw     []byte
	Skipped int `json:"-"`
	inner
}

type inner struct{ Owner string }

func TestUnmarshal(t *testing.T) {
	var a account
	require.NoError(t, strictjson.Unmarshal([]byte(`{"Balance": 5, "Items": [{"ID": 1, "Qty": 2}], "Tags": {}, "Raw": "AQI=", "Owner": "ann"}`), &a))
	assert.Equal(t, account{Balance: 5, Items: []item{{1, 2}}, Tags: map[string]item{}, Raw: []byte{1, 2}, inner: inner{"ann"}}, a)
	require.NoError(t, strictjson.Unmarshal([]byte(`{"balance": 5, "items": null, "tags": null, "raw": null, "owner": ""}`), &a),
		"names match as encoding/json matches them; omitempty and omitzero fields may be absent")

	for name, c := range map[string]struct{ data, err string }{
		"unknown field":            {`{"Balance": 5, "Cents": 1}`, `json: unknown field "Cents"`},
		"unknown field, nested":    {`{"Balance": 5, "Items": [{"ID": 1, "Qty": 2, "X": 0}]}`, `json: unknown field "X"`},
		"missing field":            {`{"Items": [], "Tags": {}, "Raw": "", "Owner": ""}`, "field .Balance is missing"},
		"missing in a slice":       {`{"Balance": 1, "Items": [{"ID": 1}], "Tags": {}, "Raw": "", "Owner": ""}`, "field .Items[0].Qty is missing"},
		"missing in a map":         {`{"Balance": 1, "Items": [], "Tags": {"a": {"Qty": 1}}, "Raw": "", "Owner": ""}`, "field .Tags.a.ID is missing"},
		"missing, embedded":        {`{"Balance": 1, "Items": [], "Tags": {}, "Raw": ""}`, "field .Owner is missing"},
		"another type":             {`{"Balance": "five"}`, "json: cannot unmarshal"},
		"malformed first value":    {`{"Balance": `, "unexpected EOF"},
		"not an object, no fields": {`[1]`, "json: cannot unmarshal array"},
	} {
		err := strictjson.Unmarshal([]byte(c.data), new(account))
		var se *strictjson.ShapeError
		assert.True(t, errors.As(err, &se), "%s: %v is a shape error", name, err)
		assert.ErrorContains(t, err, c.err, name)
	}

	err := strictjson.Unmarshal([]byte(`{"Balance": 1}garbage`), new(struct{ Balance int }))
	var se *strictjson.ShapeError
	var syntax *json.SyntaxError
	assert.False(t, errors.As(err, &se), "data after the value is not about its shape")
	assert.ErrorAs(t, err, &syntax)
}

// selfDecoding checks its own shape: its fields are not required.
type selfDecoding struct{ N int }

func (s *selfDecoding) UnmarshalJSON(b []byte) error { s.N = len(b); return nil }

func TestUnmarshalTrustsUnmarshalers(t *testing.T) {
	var v struct{ S selfDecoding }
	require.NoError(t, strictjson.Unmarshal([]byte(`{"S": {}}`), &v))
	assert.Equal(t, 2, v.S.N)
}
