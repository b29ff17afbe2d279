//go:build !linux

package handoff

import (
	"context"
	"errors"
	"os/exec"
)

// Run needs Linux (a child subreaper); elsewhere it fails.
func Run(ctx context.Context, cmd *exec.Cmd, opts RunOptions) (int, error) {
	return 0, errors.New("handoff: run: needs Linux (PR_SET_CHILD_SUBREAPER)")
}
