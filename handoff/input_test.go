package handoff

import (
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/actor/actortest"
)

// Bad input to Upgrade is refused before anything starts: no trees, a
// checksum that is not one, a file that does not match it.
func TestUpgradeRefusesBadInput(t *testing.T) {
	_, n := oldNode(t, actor.JSON)
	empty := New(actortest.NewSystem(t).System, Options{})
	_, err := empty.Upgrade(bg(t), "/bin/true", "00")
	require.ErrorIs(t, err, ErrNoTrees)

	path := filepath.Join(t.TempDir(), "exe")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"), 0o700))
	rep, err := n.Upgrade(bg(t), path, "not hex")
	require.ErrorIs(t, err, ErrChecksum)
	assert.Equal(t, Refused, rep.Outcome)
	assert.Equal(t, StepVerify, rep.Step)
	sum, err := Checksum(path)
	require.NoError(t, err)
	other := []byte(sum)
	other[0] ^= 1
	_, err = n.Upgrade(bg(t), path, string(other))
	require.ErrorIs(t, err, ErrChecksum)
	_, err = n.Upgrade(bg(t), filepath.Join(t.TempDir(), "missing"), sum)
	require.Error(t, err)

	err = New(actortest.NewSystem(t).System, Options{}).Receive(bg(t))
	require.ErrorIs(t, err, ErrNotInherited)

	// A version without a codec: refused before the executable is even
	// checked or started.
	noCodecSys, noCodec := oldNode(t, nil)
	var steps []string
	defer noCodecSys.Subscribe(func(e actor.Event) {
		if ev, ok := e.(Event); ok {
			steps = append(steps, ev.Step+" "+ev.Status)
		}
	})()
	rep, err = noCodec.Upgrade(bg(t), path, sum)
	require.ErrorIs(t, err, actor.ErrNoCodec)
	assert.Equal(t, StepPrepare, rep.Step)
	assert.Equal(t, []string{"prepare failed"}, steps)
}

// Frames that are too long, not JSON, or of another kind are protocol
// errors; a "failed" frame carries the other side's step.
func TestFrames(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ca, cb := &channel{rw: a}, &channel{rw: b}
	go func() {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], maxFrame+1)
		_, _ = a.Write(hdr[:])
	}()
	_, err := cb.recv()
	require.ErrorIs(t, err, ErrProtocol)
	go func() {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], 3)
		_, _ = a.Write(append(hdr[:], "{x}"...))
	}()
	_, err = cb.recv()
	require.ErrorIs(t, err, ErrProtocol)
	go func() { _ = ca.send(kindReady, nil) }()
	require.ErrorIs(t, cb.expect(kindPrepared, nil), ErrProtocol)
	go func() { _ = ca.send(kindFailed, failure{Step: StepHealth, Err: "no"}) }()
	err = cb.expect(kindReady, nil)
	var se *StepError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, StepHealth, se.Step)
	assert.True(t, se.Remote)
	go func() { _ = ca.send(kindAbort, nil) }()
	require.ErrorIs(t, cb.expect(kindCommit, nil), ErrAborted)
}

// Listen returns the socket named in the environment when there is one,
// and a new one otherwise.
func TestListenInherited(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	require.NoError(t, err)
	defer f.Close()
	fd, err := syscall.Dup(int(f.Fd())) // Listen takes it over, as a new process does
	require.NoError(t, err)
	t.Setenv(EnvListeners, "tcp|127.0.0.1:0="+strconv.Itoa(fd))
	got, err := Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer got.Close()
	assert.Equal(t, ln.Addr().String(), got.Addr().String(), "the inherited socket")
	t.Setenv(EnvListeners, "")
	other, err := Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer other.Close()
	assert.NotEqual(t, ln.Addr().String(), other.Addr().String())
}
