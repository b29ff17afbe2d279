package handoff

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

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
