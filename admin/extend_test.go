package admin_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/admin"
)

// Server.Handle adds endpoints behind the same token, with 405 for other
// methods, while the server serves; bad patterns and conflicts are errors.
func TestHandleAddsEndpoints(t *testing.T) {
	r := newRig(t, 1)
	require.NoError(t, r.srv.Handle("/api/v1/extra",
		admin.Route{Method: http.MethodGet, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			admin.WriteJSON(w, http.StatusOK, map[string]string{"hello": "there"})
		})},
		admin.Route{Method: http.MethodPost, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			b, ok := r.srv.ReadBody(w, req)
			if !ok {
				return
			}
			admin.WriteError(w, http.StatusUnprocessableEntity, "got "+string(b))
		})}))

	status, b := r.do(t, http.MethodGet, "/api/v1/extra", nil)
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"hello":"there"}`, string(b))
	status, b = r.do(t, http.MethodPost, "/api/v1/extra", "abc")
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.Equal(t, "got abc", errorOf(t, b))
	status, b = r.doToken(t, http.MethodGet, "/api/v1/extra", nil, "wrong")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "missing or wrong bearer token", errorOf(t, b))
	status, b = r.do(t, http.MethodDelete, "/api/v1/extra", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, status)
	assert.Contains(t, errorOf(t, b), "allowed: GET, POST")

	ok := admin.Route{Method: http.MethodGet, Handler: http.NotFoundHandler()}
	assert.ErrorContains(t, r.srv.Handle("/api/v1/extra", ok), "/api/v1/extra", "registered already")
	assert.ErrorContains(t, r.srv.Handle("/api/v1/tree", ok), "/api/v1/tree", "an endpoint of its own")
	assert.ErrorContains(t, r.srv.Handle("api/v1/x", ok), "want a path")
	assert.ErrorContains(t, r.srv.Handle("GET /api/v1/x", ok), "want a path")
	assert.ErrorContains(t, r.srv.Handle("/api/v1/x"), "no routes")
	assert.ErrorContains(t, r.srv.Handle("/api/v1/x", admin.Route{Method: http.MethodGet}), "a method and a handler")
	// None of the refused ones was added.
	status, _ = r.do(t, http.MethodGet, "/api/v1/x", nil)
	assert.Equal(t, http.StatusNotFound, status)
}
