package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/graftrt/graft/admin"
)

// maxEventLine bounds one line of the event stream (an event's data is
// one line of JSON).
const maxEventLine = 4 << 20

// Stream is a subscription to the node's event stream (GET
// /api/v1/events, Server-Sent Events). Next reads it event by event; Close
// ends it. A Stream is read by one goroutine at a time.
type Stream struct {
	body io.ReadCloser
	sc   *bufio.Scanner
	addr string
}

// Subscribe opens the node's event stream, only the events of one upgrade
// if upgradeID is not "". It returns once the node has accepted the
// subscription: every event published after that is read by Next, in
// order. ctx bounds the whole stream; Close ends it sooner.
func (c *Client) Subscribe(ctx context.Context, upgradeID string) (*Stream, error) {
	var q url.Values
	if upgradeID != "" {
		q = url.Values{"upgrade": {upgradeID}}
	}
	resp, err := c.send(ctx, http.MethodGet, api+"/events", q, nil, "text/event-stream")
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return nil, fmt.Errorf("the node at %s answered the event stream with %q, not text/event-stream", c.addr, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	return &Stream{body: resp.Body, sc: sc, addr: c.addr}, nil
}

// Next returns the next event. It returns io.EOF when the node ends the
// stream (its server closing), and the error of a broken or canceled
// connection, or of an event that is not an admin.Event.
//
// Events are read as the Server-Sent Events format says: "event:" is the
// Type (used when the data has none), "data:" lines are joined, "id:" is
// the Seq (used when the data has none), lines starting with ":" are
// comments (keep-alives), and an event cut off by the end of the stream is
// dropped.
func (s *Stream) Next() (admin.Event, error) {
	var (
		typ, id string
		data    bytes.Buffer
		hasData bool
	)
	for s.sc.Scan() {
		line := s.sc.Bytes()
		if len(line) == 0 {
			if !hasData {
				typ, id = "", ""
				continue
			}
			return s.decode(typ, id, data.Bytes())
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			typ = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "id":
			id = string(value)
		}
	}
	if err := s.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return admin.Event{}, fmt.Errorf("the node at %s sent an event longer than %d bytes", s.addr, maxEventLine)
		}
		return admin.Event{}, err
	}
	return admin.Event{}, io.EOF
}

func (s *Stream) decode(typ, id string, data []byte) (admin.Event, error) {
	var ev admin.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return admin.Event{}, fmt.Errorf("the node at %s sent an event that is not an admin.Event: %v", s.addr, err)
	}
	if ev.Type == "" {
		ev.Type = typ
	}
	if ev.Seq == 0 && id != "" {
		ev.Seq, _ = strconv.ParseUint(id, 10, 64)
	}
	return ev, nil
}

// Close ends the subscription.
func (s *Stream) Close() error { return s.body.Close() }

// Events calls fn with every event of the node's event stream (only those
// of one upgrade if upgradeID is not ""), in order, until ctx ends (its
// error is returned), fn returns an error (returned as it is), or the node
// ends the stream (nil).
func (c *Client) Events(ctx context.Context, upgradeID string, fn func(admin.Event) error) error {
	s, err := c.Subscribe(ctx, upgradeID)
	if err != nil {
		return err
	}
	defer s.Close()
	for {
		ev, err := s.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}
