package handoff

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// The channel between the two processes carries frames: a 4-byte
// big-endian length, then that many bytes of a JSON envelope naming the
// frame's kind. JSON keeps the protocol readable in a capture and needs
// nothing beyond the standard library; states and messages inside are
// bytes in their versions' codecs.

// maxFrame bounds one frame: a transfer of 10,000 processes with 1 KiB of
// state each is about 15 MB.
const maxFrame = 1 << 30

// ErrProtocol reports a frame that is not what the protocol allows: too
// long, not JSON, of an unknown kind, or out of order.
var ErrProtocol = errors.New("handoff: protocol error")

type envelope struct {
	Kind string          `json:"kind"`
	Body json.RawMessage `json:"body,omitempty"`
}

// channel is one end of the handoff channel. Writes are serialised;
// reads are done by one goroutine.
type channel struct {
	rw      io.ReadWriteCloser
	wmu     sync.Mutex
	written int64 // guarded by wmu
	read    int64 // reader only
}

func (c *channel) send(kind string, body any) error {
	var raw json.RawMessage
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("handoff: encode %s: %w", kind, err)
		}
		raw = b
	}
	data, err := json.Marshal(envelope{Kind: kind, Body: raw})
	if err != nil {
		return fmt.Errorf("handoff: encode %s: %w", kind, err)
	}
	if len(data) > maxFrame {
		return fmt.Errorf("%w: %s frame of %d bytes", ErrProtocol, kind, len(data))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(data)))
	if _, err := c.rw.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := c.rw.Write(data); err != nil {
		return err
	}
	c.written += int64(len(data)) + 4
	return nil
}

func (c *channel) recv() (envelope, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.rw, hdr[:]); err != nil {
		return envelope{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return envelope{}, fmt.Errorf("%w: frame of %d bytes", ErrProtocol, n)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(c.rw, data); err != nil {
		return envelope{}, err
	}
	c.read += int64(n) + 4
	var e envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return envelope{}, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	return e, nil
}

// expect reads the next frame and decodes it into body; a frame of kind
// "failed" becomes the error it carries.
func (c *channel) expect(kind string, body any) error {
	e, err := c.recv()
	if err != nil {
		return err
	}
	if e.Kind == kindFailed {
		var f failure
		if err := json.Unmarshal(e.Body, &f); err != nil {
			return fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		return f.err()
	}
	if e.Kind == kindAbort {
		return ErrAborted
	}
	if e.Kind != kind {
		return fmt.Errorf("%w: got %q, want %q", ErrProtocol, e.Kind, kind)
	}
	if body == nil {
		return nil
	}
	if err := json.Unmarshal(e.Body, body); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrProtocol, kind, err)
	}
	return nil
}

func (c *channel) close() error { return c.rw.Close() }
