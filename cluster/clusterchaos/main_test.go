package clusterchaos_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/graftrt/graft/cluster/internal/nodetest"
)

// Ergo's node starts a goroutine that waits for SIGINT or SIGTERM, one per
// node started, for the life of the program (docs/cluster.md).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("ergo.services/ergo/node.(*node).SetCTRLC.func1"),
		goleak.Cleanup(func(code int) {
			nodetest.Cleanup()
			os.Exit(code)
		}))
}
