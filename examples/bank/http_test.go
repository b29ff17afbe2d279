package bank_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/examples/bank"
)

func TestHTTP(t *testing.T) {
	_, b := start(t, bank.Options{AuditEvery: -1})
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(testCtx(t), method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		var v any
		require.NoError(t, json.Unmarshal(data, &v), string(data))
		m, _ := v.(map[string]any)
		if m == nil {
			m = map[string]any{"list": v}
		}
		return resp.StatusCode, m
	}

	code, acc := do("POST", "/accounts", `{"deposit": 1000}`)
	assert.Equal(t, http.StatusCreated, code)
	assert.Equal(t, map[string]any{"id": 1.0, "balance": 1000.0, "seq": 1.0, "version": "v1"}, acc)
	code, _ = do("POST", "/accounts", "")
	assert.Equal(t, http.StatusCreated, code, "the opening deposit is optional")

	code, acc = do("POST", "/accounts/1/withdraw", `{"amount": 250}`)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, 750.0, acc["balance"])
	code, acc = do("POST", "/accounts/2/withdraw", `{"amount": 1}`)
	assert.Equal(t, http.StatusConflict, code)
	assert.Contains(t, acc["error"], "insufficient funds")
	code, _ = do("POST", "/accounts/1/deposit", `{"amount": 100}`)
	assert.Equal(t, http.StatusOK, code)

	code, tr := do("POST", "/transfers", `{"from": 1, "to": 2, "amount": 50}`)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, 800.0, tr["from"].(map[string]any)["balance"])
	assert.Equal(t, 50.0, tr["to"].(map[string]any)["balance"])

	code, acc = do("GET", "/accounts/2", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, 50.0, acc["balance"])
	code, list := do("GET", "/accounts", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Len(t, list["list"], 2)
	code, tot := do("GET", "/totals", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, 850.0, tot["balances"])

	for _, c := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/accounts/9", "", http.StatusNotFound},
		{"GET", "/accounts/x", "", http.StatusBadRequest},
		{"POST", "/accounts/1/deposit", `{"amount": "ten"}`, http.StatusBadRequest},
		{"POST", "/accounts/1/deposit", `{"amount": 1, "memo": "x"}`, http.StatusBadRequest},
		{"POST", "/accounts/1/deposit", ``, http.StatusBadRequest},
		{"POST", "/accounts/1/deposit", `{"amount": 0}`, http.StatusConflict},
		{"POST", "/transfers", `{"from": 1, "to": 1, "amount": 5}`, http.StatusBadRequest},
		{"POST", "/transfers", `{"from": 1, "to": 7, "amount": 5}`, http.StatusNotFound},
	} {
		code, body := do(c.method, c.path, c.body)
		assert.Equal(t, c.code, code, "%s %s %s: %v", c.method, c.path, c.body, body)
		assert.NotEmpty(t, body["error"])
	}
	assert.Equal(t, bank.Totals{Accounts: 2, Balances: 850, In: 1150, Out: 300}, b.Totals(), "bad requests changed nothing")
}
