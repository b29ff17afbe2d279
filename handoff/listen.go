package handoff

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Environment variables a handoff sets for the new process. EnvChannel is
// the file descriptor of its end of the channel; EnvListeners names the
// listening sockets it inherits: "network|address=fd" entries separated
// by commas, e.g. "tcp|127.0.0.1:8080=4".
const (
	EnvChannel   = "GRAFT_HANDOFF_FD"
	EnvListeners = "GRAFT_HANDOFF_LISTENERS"
)

// inherited parses EnvListeners.
func inherited() map[string]int {
	out := map[string]int{}
	for _, e := range strings.Split(os.Getenv(EnvListeners), ",") {
		key, fd, ok := strings.Cut(e, "=")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(fd); err == nil && n > 2 {
			out[key] = n
		}
	}
	return out
}

func listenerKey(network, addr string) string { return network + "|" + addr }

// Listen returns the listening socket for network and addr that this
// process inherited from the one it takes over (EnvListeners), or a new
// one (net.Listen) if it inherited none. A service opens its listeners
// with it in both builds; Node.Listen also remembers them, to pass them on
// at the next handoff.
func Listen(network, addr string) (net.Listener, error) {
	if fd, ok := inherited()[listenerKey(network, addr)]; ok {
		f := os.NewFile(uintptr(fd), listenerKey(network, addr))
		if f == nil {
			return nil, fmt.Errorf("handoff: inherited listener %s %s: bad descriptor %d", network, addr, fd)
		}
		defer f.Close() // FileListener keeps its own duplicate
		ln, err := net.FileListener(f)
		if err != nil {
			return nil, fmt.Errorf("handoff: inherited listener %s %s: %w", network, addr, err)
		}
		return ln, nil
	}
	return net.Listen(network, addr)
}
