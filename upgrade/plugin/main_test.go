package plugin_test

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/graftrt/graft/upgrade/plugin/plugintest"
)

// bins are the plugin executables the tests run, built once by TestMain.
var bins = map[string]plugintest.Executable{}

// builds lists them: name → package and -X settings.
var builds = map[string]struct {
	pkg  string
	vars map[string]string
}{
	"tally-v2":       {"./testdata/tally", map[string]string{"main.version": "v2"}},
	"tally-v3":       {"./testdata/tally", map[string]string{"main.version": "v3"}},
	"tally-v2-gob":   {"./testdata/tally", map[string]string{"main.version": "v2", "main.codecName": "gob"}},
	"tally-v2-exits": {"./testdata/tally", map[string]string{"main.version": "v2", "main.fault": "exit-on-code-change"}},
	"tally-other":    {"./testdata/tally", map[string]string{"main.version": "v2", "main.module": "other"}},
	"tally-v2-alone": {"./testdata/tally", map[string]string{"main.version": "v2", "main.lineage": "none"}},
	"pbtally":        {"./testdata/pbtally", nil},
	"rogue-garbage":  {"./testdata/rogue", map[string]string{"main.fault": "garbage"}},
	"rogue-protocol": {"./testdata/rogue", map[string]string{"main.fault": "protocol"}},
	"rogue-codec":    {"./testdata/rogue", map[string]string{"main.fault": "codec"}},
	"stray":          {"./testdata/stray", nil},
	"stray-setsid":   {"./testdata/stray", map[string]string{"main.escape": "setsid"}},
	"peek":           {"./testdata/peek", nil},
	"bank":           {"./testdata/bank", nil},
	"rogue-v2":       {"./testdata/rogue", map[string]string{"main.fault": "v2"}},
}

func TestMain(m *testing.M) {
	if exe := os.Getenv("GRAFT_TEST_HOST_PLUGIN"); exe != "" {
		actAsHost(exe) // see TestPluginExitsWhenItsHostIsKilled
		return
	}
	dir, err := os.MkdirTemp("", "graft-plugins-")
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed error
	for name, b := range builds {
		wg.Go(func() {
			exe, err := plugintest.Build(dir, name, b.pkg, b.vars)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = err
			}
			bins[name] = exe
		})
	}
	wg.Wait()
	code := 1
	if failed != nil {
		fmt.Fprintln(os.Stderr, failed)
	} else {
		code = run(m)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(m *testing.M) int {
	// VerifyTestMain would exit before the cleanup above.
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}
