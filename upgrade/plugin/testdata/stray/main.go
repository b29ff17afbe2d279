// Command stray is a plugin version of module "stray" that starts a helper
// process holding its standard output and error, as a plugin that runs a
// tool or a daemon does. The helper is this executable again, which
// sleeps for 30 seconds (or until killed). With -ldflags "-X
// main.escape=setsid" the helper starts a session of its own, out of the
// plugin's process group.
package main

import (
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/graftrt/graft/upgrade/plugin/sdk"
)

// Set by -ldflags -X.
var escape = ""

// Msg: "helper" (call) starts a helper and replies its PID; "get" (call)
// replies "ok"; "hang" creates the file Path and blocks.
type Msg struct{ Op, Path string }

func main() {
	if os.Getenv("STRAY_HELPER") != "" {
		time.Sleep(30 * time.Second)
		return
	}
	sdk.Serve(sdk.Module[struct{}, Msg]{
		Name: "stray", Version: "v1",
		Handle: func(ctx *sdk.Context, s struct{}, m Msg) (struct{}, error) {
			switch m.Op {
			case "helper":
				pid, err := helper()
				if err != nil {
					return s, err
				}
				return s, ctx.Reply(pid)
			case "get":
				return s, ctx.Reply("ok")
			case "hang":
				if err := os.WriteFile(m.Path, nil, 0o600); err != nil {
					return s, err
				}
				select {}
			}
			return s, nil
		},
	})
}

// helper starts the helper on the plugin's own stdout and stderr (file
// descriptors 1 and 2: go-plugin's Serve replaced the os.Stdout and
// os.Stderr variables with pipes of its own).
func helper() (int, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(self)
	cmd.Env = []string{"STRAY_HELPER=1"}
	cmd.Stdout, cmd.Stderr = os.NewFile(1, "stdout"), os.NewFile(2, "stderr")
	if escape == "setsid" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	go func() { _ = cmd.Wait() }() // reaped while the plugin lives
	return cmd.Process.Pid, nil
}
