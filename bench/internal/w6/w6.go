// Package w6 is the wire format of workload W6 (one plugin-backed actor),
// shared by the host side (package bench) and the plugin (cmd/w6plugin), so
// that the two cannot drift apart. Both sides encode it with the plugin
// module's codec, JSON.
//
// It is a package of its own because the plugin cannot import package
// bench: that would link the peer frameworks into the plugin executable.
package w6

import "strings"

// Module and Version are what the plugin serves and the host loads.
const (
	Module  = "w6"
	Version = "v1"
)

// OpStats is the call that asks the plugin for its Stats.
const OpStats = "stats"

// PadSize is the length of Msg.Pad: with the 8 bytes of Sent, a message
// carries 64 bytes of payload. On the wire, JSON makes it 93 bytes
// ({"Sent":<19 digits>,"Pad":"<56 bytes>"}).
const PadSize = 56

// Pad is the padding every data message carries.
var Pad = strings.Repeat("x", PadSize)

// Msg is every message of module w6. A data message has Op "" and carries
// Sent, the host's wall clock (time.Time.UnixNano) when it was sent, and
// Pad. A call with Op OpStats asks for Stats.
type Msg struct {
	Sent int64  `json:",omitempty"`
	Pad  string `json:",omitempty"`
	Op   string `json:",omitempty"`
}

// Stats is the reply to OpStats: the data messages handled since the
// process started, and the percentiles of their latency (from Sent to the
// plugin handling them, in ns) since the previous OpStats.
type Stats struct {
	Handled      int64
	P50ns, P99ns int64
}
