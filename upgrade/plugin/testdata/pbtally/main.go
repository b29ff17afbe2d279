// Command pbtally is a plugin version whose codec is protobuf: its state
// and messages are protobuf messages.
package main

import (
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/graftrt/graft/upgrade/plugin/codec"
	"github.com/graftrt/graft/upgrade/plugin/sdk"
)

func main() {
	sdk.Serve(sdk.Module[*wrapperspb.Int64Value, *wrapperspb.Int64Value]{
		Name: "pbtally", Version: "v1", Codec: codec.Protobuf,
		Init: func(codec.Raw) (*wrapperspb.Int64Value, error) { return wrapperspb.Int64(0), nil },
		Handle: func(ctx *sdk.Context, s, m *wrapperspb.Int64Value) (*wrapperspb.Int64Value, error) {
			s = wrapperspb.Int64(s.GetValue() + m.GetValue())
			return s, ctx.Reply(s)
		},
	})
}
