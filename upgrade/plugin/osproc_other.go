//go:build !unix

package plugin

import "os/exec"

// Without Unix process groups, a plugin is stopped alone; what it started
// is its own business.
func ownGroup(*exec.Cmd) {}

func killGroup(int) {}
