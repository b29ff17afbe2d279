// Command peek is a plugin version of module "peek" that reads whatever its
// standard input holds: a plugin must not see the host's.
package main

import (
	"io"
	"os"
	"time"

	"github.com/graftrt/graft/upgrade/plugin/sdk"
)

// Msg: "stdin" (call) replies what standard input gave within a second,
// up to 1 KiB.
type Msg struct{ Op string }

func main() {
	sdk.Serve(sdk.Module[struct{}, Msg]{
		Name: "peek", Version: "v1",
		Handle: func(ctx *sdk.Context, s struct{}, m Msg) (struct{}, error) {
			if m.Op == "stdin" {
				return s, ctx.Reply(readStdin())
			}
			return s, nil
		},
	})
}

func readStdin() string {
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(os.Stdin, 1024))
		got <- b
	}()
	select {
	case b := <-got:
		return string(b)
	case <-time.After(time.Second):
		return "(blocked)"
	}
}
