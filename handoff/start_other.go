//go:build !linux

package handoff

import (
	"errors"
	"fmt"
)

// start is Linux only for now: it relies on socketpair(2) with
// SOCK_CLOEXEC and descriptor inheritance as Linux does them.
func (n *Node) start(path string) (*child, error) {
	return nil, fmt.Errorf("handoff: starting %s: %w", path, errors.ErrUnsupported)
}
