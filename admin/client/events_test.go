package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/admin"
)

// sse writes a stream and ends it.
func sse(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, body)
	}
}

func TestEventStreamParsing(t *testing.T) {
	var query string
	c := node(t, func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		assert.Equal(t, "text/event-stream", r.Header.Get("Accept"))
		sse(": keep-alive\n\n"+
			// The usual form.
			"event: PlanAccepted\nid: 7\ndata: {\"seq\":7,\"type\":\"PlanAccepted\",\"upgrade\":\"u1\",\"data\":{\"Processes\":3}}\n\n"+
			// CRLF line ends, the data split over lines, no space after the colons.
			"event:ProcessMigrated\r\nid:8\r\ndata:{\"seq\":8,\"type\":\"ProcessMigrated\",\r\ndata:\"upgrade\":\"u1\",\"data\":{\"PID\":\"<0.12.0>\"}}\r\n\r\n"+
			// Type and seq only in the SSE fields.
			"event: UpgradeCommitted\nid: 9\ndata: {\"upgrade\":\"u1\"}\n\n"+
			// Cut off by the end of the stream: dropped.
			"event: ProcessResumed\ndata: {\"seq\":10")(w, r)
	})
	var got []admin.Event
	err := c.Events(context.Background(), "u1", func(ev admin.Event) error {
		got = append(got, ev)
		return nil
	})
	require.NoError(t, err, "the node ending the stream ends Events without an error")
	assert.Equal(t, "upgrade=u1", query)
	require.Len(t, got, 3)
	assert.Equal(t, uint64(7), got[0].Seq)
	assert.Equal(t, "PlanAccepted", got[0].Type)
	assert.Equal(t, "u1", got[0].Upgrade)
	assert.Equal(t, float64(3), got[0].Data["Processes"])
	assert.Equal(t, uint64(8), got[1].Seq)
	assert.Equal(t, "ProcessMigrated", got[1].Type)
	assert.Equal(t, "<0.12.0>", got[1].Data["PID"])
	assert.Equal(t, uint64(9), got[2].Seq)
	assert.Equal(t, "UpgradeCommitted", got[2].Type)
}

func TestEventStreamErrors(t *testing.T) {
	t.Run("fn's error stops the stream", func(t *testing.T) {
		c := node(t, sse("data: {\"seq\":1,\"type\":\"A\"}\n\ndata: {\"seq\":2,\"type\":\"B\"}\n\n"))
		stop := errors.New("enough")
		n := 0
		err := c.Events(context.Background(), "", func(admin.Event) error { n++; return stop })
		assert.ErrorIs(t, err, stop)
		assert.Equal(t, 1, n)
	})
	t.Run("data that is not an event", func(t *testing.T) {
		c := node(t, sse("data: {oops\n\n"))
		err := c.Events(context.Background(), "", func(admin.Event) error { return nil })
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not an admin.Event")
	})
	t.Run("not an event stream", func(t *testing.T) {
		c := node(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, admin.Tree{}) })
		_, err := c.Subscribe(context.Background(), "")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not text/event-stream")
	})
	t.Run("unknown upgrade", func(t *testing.T) {
		c := node(t, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusNotFound, admin.Error{Error: "admin: no upgrade u9"})
		})
		err := c.Events(context.Background(), "u9", func(admin.Event) error { return nil })
		assert.EqualError(t, err, "admin: no upgrade u9")
	})
}

// A stream that stays open ends with its context, after the events that
// came before.
func TestEventStreamEndsWithContext(t *testing.T) {
	c := node(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"seq\":1,\"type\":\"A\"}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []admin.Event
	err := c.Events(ctx, "", func(ev admin.Event) error {
		got = append(got, ev)
		cancel()
		return nil
	})
	assert.ErrorIs(t, err, context.Canceled)
	require.Len(t, got, 1)
	assert.Equal(t, "A", got[0].Type)
}
