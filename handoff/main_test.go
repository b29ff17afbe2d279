package handoff

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(runChildEnv); mode != "" {
		os.Exit(runChild(mode)) // a process of the Run tests
	}
	goleak.VerifyTestMain(m)
}
