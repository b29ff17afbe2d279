package cluster

import (
	"reflect"
	"testing"

	"ergo.services/ergo/gen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// every returns a wire with every field a frame carries set (a distinct
// value each), found by reflection: a field added to wire and forgotten
// by the frame encoding fails the round trip.
func every(seed uint64) wire {
	var w wire
	v := reflect.ValueOf(&w).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		x := seed + uint64(i)*1000 + 1
		switch f.Kind() {
		case reflect.Uint8:
			f.SetUint(x % 250)
		case reflect.Uint64:
			f.SetUint(x << 40)
		case reflect.Int64:
			f.SetInt(-int64(x))
		case reflect.String:
			f.SetString(v.Type().Field(i).Name + " of a frame")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			f.SetBytes([]byte{byte(x), 0, byte(x >> 8)})
		default:
			panic("wire has a field of kind " + f.Kind().String() + ": teach frames and this test about it")
		}
	}
	// What the packet carries once, not each frame.
	w.Session, w.FromIncarnation, w.ToIncarnation = 0, 0, 0
	return w
}

func TestFramesRoundTrip(t *testing.T) {
	var fw frameWriter
	in := []wire{
		every(1),
		{Kind: kAck, Ref: 99},
		every(2), // the same type: numbered, not named again
		{Kind: kSend, Type: "other", Data: []byte{}},
		{Kind: kReply, Exit: true, Timeout: 5},
		{Kind: kTick},
	}
	ends := map[int]bool{0: true}
	for i := range in {
		fw.add(&in[i])
		ends[len(fw.b)] = true
	}
	fr := frameReader{b: fw.b}
	var out []wire
	var w wire
	for fr.next(&w) {
		out = append(out, w)
	}
	require.NoError(t, fr.err)
	assert.Equal(t, in, out)
	assert.Equal(t, []string{"Type of a frame", "other"}, fr.types)

	// A frame cut short anywhere, or with a number that names nothing, is
	// an error, never a panic and never a frame that was not sent (a cut
	// between frames is a shorter packet).
	for cut := range len(fw.b) {
		fr := frameReader{b: fw.b[:cut]}
		got := []wire{}
		for fr.next(&w) {
			got = append(got, w)
		}
		assert.Equal(t, in[:len(got)], got, "cut at %d", cut)
		if !ends[cut] {
			assert.ErrorIs(t, fr.err, errBadFrame, "cut at %d", cut)
		}
	}
	var bad frameWriter
	bad.types = []string{"known"} // numbered in another packet
	bad.add(&wire{Kind: kSend, Type: "known"})
	fr = frameReader{b: bad.b}
	assert.False(t, fr.next(&w))
	assert.ErrorIs(t, fr.err, errBadFrame)
}

// A packet that numbers more types than it keeps names the rest in full.
func TestFramesManyTypes(t *testing.T) {
	var fw frameWriter
	var in []wire
	for i := range 2 * maxTypes {
		for range 2 {
			in = append(in, wire{Kind: kSend, Type: string(rune('A' + i))})
		}
	}
	for i := range in {
		fw.add(&in[i])
	}
	fr := frameReader{b: fw.b}
	var w wire
	var out []wire
	for fr.next(&w) {
		out = append(out, w)
	}
	require.NoError(t, fr.err)
	assert.Equal(t, in, out)
}

func FuzzFrames(f *testing.F) {
	var fw frameWriter
	for i := range uint64(3) {
		w := every(i)
		fw.add(&w)
	}
	f.Add(fw.b)
	f.Add([]byte{kSend, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := frameReader{b: b}
		var w wire
		for fr.next(&w) {
			var again frameWriter
			again.add(&w)
			var back wire
			r := frameReader{b: again.b}
			require.True(t, r.next(&back), "%v", r.err)
			require.Equal(t, w, back)
		}
	})
}

// A node says in its Ergo version that it reads packets; a node of an
// earlier build, which does not, is not taken for a peer (nor does it
// take this one for one).
func TestVersionNamesThePacketProtocol(t *testing.T) {
	inc, ok := incarnationOf(gen.Version{Name: "graft", Release: releaseOf(0xbeef)})
	assert.True(t, ok)
	assert.Equal(t, uint64(0xbeef), inc)
	_, ok = incarnationOf(gen.Version{Name: "graft", Release: "incarnation beef"})
	assert.False(t, ok, "an earlier build")
	_, ok = incarnationOf(gen.Version{Name: "other", Release: releaseOf(0xbeef)})
	assert.False(t, ok)
}
