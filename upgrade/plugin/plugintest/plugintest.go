package plugintest

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/graftrt/graft/upgrade"
	"github.com/graftrt/graft/upgrade/plugin"
)

// Executable is a built plugin.
type Executable struct {
	Path     string
	Checksum string // hex SHA-256
}

// Ref names the executable as module@version for a Loader.
func (e Executable) Ref(module, version string) upgrade.Ref {
	return upgrade.Ref{Module: module, Version: version, Path: e.Path, Checksum: e.Checksum}
}

// Build compiles the main package pkg (a path relative to the current
// directory, as in "./testdata/tally", or an import path) into dir/name,
// setting the package's string variables vars with -ldflags -X (as in
// {"main.version": "v3"}). The go command comes from PATH, else from the
// toolchain that built the test.
func Build(dir, name, pkg string, vars map[string]string) (Executable, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	var flags []string
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		flags = append(flags, "-X", k+"="+vars[k])
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command(gobin, "build", "-o", out, "-ldflags", strings.Join(flags, " "), pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		return Executable{}, fmt.Errorf("building %s: %w\n%s", pkg, err, b)
	}
	sum, err := plugin.Checksum(out)
	if err != nil {
		return Executable{}, err
	}
	return Executable{Path: out, Checksum: sum}, nil
}

// Running reports whether the OS process pid exists (and is not a zombie
// waiting to be reaped: go-plugin reaps the processes it starts).
func Running(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie still answers signal 0; its /proc status says Z.
	state, _, ok := stat(pid)
	return !ok || state != "Z"
}

// stat reads a process's state letter and parent PID from /proc.
func stat(pid int) (state string, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 2 {
		return "", 0, false
	}
	ppid, err = strconv.Atoi(fields[1])
	return fields[0], ppid, err == nil
}

// Children returns the PIDs of the live OS processes whose parent is this
// one, in increasing order: what a test compares before and after to show
// that no plugin process was left behind.
func Children() []int {
	entries, _ := os.ReadDir("/proc")
	me := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid, ok := stat(pid); ok && ppid == me && state != "Z" {
			out = append(out, pid)
		}
	}
	return out
}
