package handoff

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
)

// verify checks the executable at path against a hex SHA-256 checksum.
func verify(path, checksum string) error {
	want, err := hex.DecodeString(strings.TrimSpace(checksum))
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("%w: %q is not a hex SHA-256", ErrChecksum, checksum)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := h.Sum(nil); string(got) != string(want) {
		return fmt.Errorf("%w: %s has %x", ErrChecksum, path, got)
	}
	return nil
}

// Checksum returns the hex SHA-256 of the file at path: what Upgrade
// checks (compute it in the build pipeline, not from the file to be run).
func Checksum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// child is the new process, started with its end of the channel and the
// listening sockets.
type child struct {
	cmd    *exec.Cmd
	conn   net.Conn
	exited chan struct{} // closed when it has exited; err is its status
	err    error
}

// kill ends the new process (an abort) and waits for it.
func (c *child) kill() {
	c.conn.Close()
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// withoutHandoffEnv drops the variables a handoff set for this process.
func withoutHandoffEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if strings.HasPrefix(e, EnvChannel+"=") || strings.HasPrefix(e, EnvListeners+"=") {
			continue
		}
		out = append(out, e)
	}
	return out
}
