package handoff

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
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

// start starts the executable at path with the node's listeners and a
// socketpair for the channel.
func (n *Node) start(path string) (*child, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "handoff")
	theirs := os.NewFile(uintptr(fds[1]), "handoff-child")
	defer theirs.Close()
	conn, err := net.FileConn(ours)
	ours.Close() // FileConn keeps a duplicate
	if err != nil {
		return nil, err
	}
	files := []*os.File{theirs}
	var names []string
	n.mu.Lock()
	ls := append([]listener(nil), n.listeners...)
	n.mu.Unlock()
	for _, l := range ls {
		fl, ok := l.ln.(interface{ File() (*os.File, error) })
		if !ok {
			conn.Close()
			return nil, fmt.Errorf("listener %s %s cannot be passed on (%T)", l.network, l.addr, l.ln)
		}
		f, err := fl.File()
		if err != nil {
			conn.Close()
			return nil, err
		}
		defer f.Close()
		files = append(files, f)
		// ExtraFiles[i] is descriptor 3+i in the child.
		names = append(names, listenerKey(l.network, l.addr)+"="+strconv.Itoa(2+len(files)))
	}
	cmd := exec.Command(path, n.opts.Args...)
	cmd.Env = append(append(withoutHandoffEnv(os.Environ()), n.opts.Env...),
		EnvChannel+"=3", EnvListeners+"="+strings.Join(names, ","))
	cmd.ExtraFiles = files
	cmd.Stdout, cmd.Stderr = n.opts.Stdout, n.opts.Stderr
	err = cmd.Start()
	// Starting the command put the listeners' descriptors in blocking
	// mode (os.File.Fd does), and a duplicate shares that flag with the
	// original: the listener this process still accepts on would block in
	// accept, and its Close would wait for a connection. Set it back.
	for _, f := range files[1:] {
		if rc, rerr := f.SyscallConn(); rerr == nil {
			_ = rc.Control(func(fd uintptr) { _ = syscall.SetNonblock(int(fd), true) })
		}
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &child{cmd: cmd, conn: conn, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
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
