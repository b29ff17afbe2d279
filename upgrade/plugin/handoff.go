package plugin

import (
	"fmt"
	"slices"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/upgrade/plugin/codec"
)

// This file makes a plugin version's states and messages crossable by a
// handoff to a new build of the host (package handoff): a plugin version
// declares its plugin's codec as its actor.Codec, and the message types
// the host registered for its module (WithTypes).

// WithTypes registers the Go types of the messages and spawn arguments the
// host sends to module's plugin processes, so that a handoff to a new
// build of the host (package handoff) can carry them queued, in the
// plugin's codec: a queued message of a type not registered makes the
// handoff refuse before its commit, naming the type. codec.Raw values
// cross without being registered. Calls add up, one per module.
func WithTypes(module string, types ...any) Option {
	return optionFunc(func(o *options) {
		if o.types == nil {
			o.types = make(map[string][]any)
		}
		o.types[module] = slices.Clone(types)
	})
}

// Codec is the plugin's codec as the runtime's actor.Codec: a handoff
// encodes the version's states (codec.Raw, already in it) and queued
// messages with it, and the new build decodes them with the same version
// loaded there.
func (b *behaviour) Codec() actor.Codec { return hostCodec{b.codec} }

// Types are the types WithTypes registered for the module, and codec.Raw.
func (b *behaviour) Types() []any {
	return append([]any{codec.Raw{}}, b.p.o.types[b.p.ref.Module]...)
}

// hostCodec is a plugin codec.Codec as an actor.Codec. A codec.Raw in the
// codec is its bytes; decoded into a *codec.Raw, bytes become one again.
type hostCodec struct{ c codec.Codec }

func (h hostCodec) Name() string { return h.c.Name() }

func (h hostCodec) Encode(v any) ([]byte, error) {
	if r, ok := v.(codec.Raw); ok {
		if r.Codec != h.c.Name() {
			return nil, fmt.Errorf("%w: a value in codec %q where the version speaks %q", ErrEncode, r.Codec, h.c.Name())
		}
		return r.Data, nil
	}
	return h.c.Marshal(v)
}

func (h hostCodec) Decode(data []byte, into any) error {
	if r, ok := into.(*codec.Raw); ok {
		*r = codec.Raw{Codec: h.c.Name(), Data: data}
		return nil
	}
	return codec.Raw{Codec: h.c.Name(), Data: data}.Decode(into)
}

func (h hostCodec) DecodeStrict(data []byte, into any) error {
	if r, ok := into.(*codec.Raw); ok {
		*r = codec.Raw{Codec: h.c.Name(), Data: data}
		return nil
	}
	return codec.Raw{Codec: h.c.Name(), Data: data}.DecodeStrict(into)
}

// asRaw returns a state or value that arrived encoded (a restored
// process's state is an actor.EncodedValue until its first message) as a
// codec.Raw; anything else as it is.
func asRaw(v any) any {
	if e, ok := v.(actor.EncodedValue); ok && e.Codec != nil {
		return codec.Raw{Codec: e.Codec.Name(), Data: e.Data}
	}
	return v
}
