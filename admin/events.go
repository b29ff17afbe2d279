package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/handoff"
	"github.com/graftrt/graft/upgrade"
)

// streamBuffer is how many events a stream may fall behind before it is
// ended (the client reconnects and reads the tree again).
const streamBuffer = 4096

// hub turns the system's events into Events and fans them out to the
// streams and to the upgrade in progress. It follows the system through
// SubscribeAsync: no process ever waits for a reader.
type hub struct {
	cancel func()

	mu      sync.Mutex
	seq     uint64
	streams map[*stream]bool
	tap     func(Event) // the upgrade in progress, if any
	tapID   string
	closed  bool
	done    chan struct{} // closed by close
	// handedOver: the node's handoff began its drain (see publish).
	handedOver bool
}

type stream struct {
	upgrade string // only this upgrade's events, if set
	ch      chan Event
	gone    chan struct{} // closed when the hub drops the stream
	// ended is closed when the node has been handed over to a new build
	// and drains: the stream sends what it has and ends, so that its
	// client reconnects, to the new build, instead of holding the drain.
	ended chan struct{}
}

func newHub(sys *actor.System) *hub {
	h := &hub{streams: map[*stream]bool{}, done: make(chan struct{})}
	h.cancel = sys.SubscribeAsync(h.publish)
	return h
}

func (h *hub) publish(ev actor.Event) {
	e, ok := encodeEvent(ev)
	if !ok {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.seq++
	e.Seq = h.seq
	if _, isUpgrade := ev.(upgrade.Event); isUpgrade && h.tap != nil {
		e.Upgrade = h.tapID
		h.tap(e)
	}
	for st := range h.streams {
		if st.upgrade != "" && st.upgrade != e.Upgrade {
			continue
		}
		select {
		case st.ch <- e:
		default: // too far behind: end it rather than block or grow
			delete(h.streams, st)
			close(st.gone)
		}
	}
	if hs, ok := ev.(handoff.Event); ok && hs.Step == handoff.StepDrain && hs.Status == "begin" && !h.handedOver {
		h.handedOver = true
		for st := range h.streams {
			close(st.ended)
		}
	}
}

// follow taps the events of upgrade id until the returned stop.
func (h *hub) follow(id string, f func(Event)) (stop func()) {
	h.mu.Lock()
	h.tap, h.tapID = f, id
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		if h.tapID == id {
			h.tap, h.tapID = nil, ""
		}
		h.mu.Unlock()
	}
}

func (h *hub) open(upgradeID string) *stream {
	st := &stream{upgrade: upgradeID, ch: make(chan Event, streamBuffer), gone: make(chan struct{}), ended: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(st.gone)
		return st
	}
	if h.handedOver {
		close(st.ended)
	}
	h.streams[st] = true
	return st
}

func (h *hub) drop(st *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.streams[st] {
		delete(h.streams, st)
		close(st.gone)
	}
}

func (h *hub) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	for st := range h.streams {
		close(st.gone)
	}
	h.streams = nil
	close(h.done)
	h.mu.Unlock()
	h.cancel()
}

// events serves the event stream as Server-Sent Events.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported by this connection")
		return
	}
	id := r.URL.Query().Get("upgrade")
	if id != "" && !s.ups.known(id) {
		writeError(w, http.StatusNotFound, "no upgrade "+strconv.Quote(id))
		return
	}
	st := s.hub.open(id)
	defer s.hub.drop(st)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": graft event stream\n\n")
	flusher.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case e := <-st.ch:
			writeEvent(w, e)
			writeWaiting(w, st.ch) // before flushing
			flusher.Flush()
		case <-st.ended:
			writeWaiting(w, st.ch)
			flusher.Flush()
			return
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
			flusher.Flush()
		case <-st.gone:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// writeEvent writes one event in the stream's format.
func writeEvent(w http.ResponseWriter, e Event) {
	if b, err := json.Marshal(e); err == nil {
		fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, b)
	}
}

// writeWaiting writes the events waiting in ch, without waiting for more.
func writeWaiting(w http.ResponseWriter, ch <-chan Event) {
	for {
		select {
		case e := <-ch:
			writeEvent(w, e)
		default:
			return
		}
	}
}

var (
	errorType    = reflect.TypeFor[error]()
	stringerType = reflect.TypeFor[fmt.Stringer]()
	pidType      = reflect.TypeFor[actor.PID]()
	durationType = reflect.TypeFor[time.Duration]()
)

// encodeEvent turns an event into an Event: its type's name and its
// exported fields of kinds an operator may see — text, numbers, booleans,
// PIDs, durations, errors (their messages) and values with a String
// method. Anything else, messages and states above all, is left out: a
// field of type any shows only the name of its dynamic type.
func encodeEvent(ev actor.Event) (Event, bool) {
	v := reflect.ValueOf(ev)
	if !v.IsValid() {
		return Event{}, false
	}
	e := Event{Time: time.Now().UTC(), Type: v.Type().Name()}
	if _, ok := ev.(handoff.Event); ok {
		e.Type = "HandoffStep" // not the upgrades' "Event"
	}
	if v.Kind() != reflect.Struct {
		return e, e.Type != ""
	}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if val, ok := fieldValue(v.Field(i)); ok {
			if e.Data == nil {
				e.Data = map[string]any{}
			}
			e.Data[snake(f.Name)] = val
		}
	}
	return e, true
}

func fieldValue(v reflect.Value) (any, bool) {
	t := v.Type()
	switch {
	case t == pidType:
		p := v.Interface().(actor.PID)
		if p.IsZero() {
			return "", true
		}
		return p.String(), true
	case t == durationType:
		return time.Duration(v.Int()).String(), true
	case t == errorType:
		if v.IsNil() {
			return nil, false
		}
		return actor.SafeError(v.Interface().(error)).Error(), true
	case t.Kind() == reflect.Interface:
		if v.IsNil() {
			return nil, false
		}
		return v.Elem().Type().String(), true // its type, never its content
	case t.Implements(stringerType) && t.Kind() != reflect.Struct && t.Kind() != reflect.Pointer:
		return safeString(v.Interface().(fmt.Stringer)), true
	}
	switch t.Kind() {
	case reflect.String:
		return v.String(), true
	case reflect.Bool:
		return v.Bool(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint(), true
	case reflect.Float32, reflect.Float64:
		return v.Float(), true
	case reflect.Slice:
		if t.Elem() == pidType || t.Elem().Kind() == reflect.String {
			out := make([]any, v.Len())
			for i := range out {
				out[i], _ = fieldValue(v.Index(i))
			}
			return out, true
		}
	}
	return nil, false
}

func safeString(s fmt.Stringer) (out string) {
	defer func() {
		if recover() != nil {
			out = "(String panicked)"
		}
	}()
	return s.String()
}

// snake turns a Go field name into JSON's snake_case: "MaxPause" →
// "max_pause", "PID" → "pid".
func snake(name string) string {
	var b []byte
	for i := range len(name) {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			if i > 0 && (name[i-1] < 'A' || name[i-1] > 'Z' || (i+1 < len(name) && name[i+1] >= 'a' && name[i+1] <= 'z')) {
				b = append(b, '_')
			}
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}
