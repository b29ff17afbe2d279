package handoff

import (
	"fmt"
	"net"
	"os"
)

// notifyMainPID tells the service manager that pid is now the service's
// main process, with systemd's notification protocol (sd_notify
// "MAINPID=", to the datagram socket named by NOTIFY_SOCKET; "@" starts an
// abstract address). Without NOTIFY_SOCKET it does nothing. systemd and
// `graft run` (Run) both listen there: the new build is then the process
// they watch and signal, and the old one's exit ends nothing.
func notifyMainPID(pid int) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("handoff: notify the service manager: %w", err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "MAINPID=%d\n", pid); err != nil {
		return fmt.Errorf("handoff: notify the service manager: %w", err)
	}
	return nil
}
