//go:build linux

package handoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Run starts cmd (the service) and stays its parent across handoffs, for
// a service manager or a container runtime that wants one process to
// watch: `graft run` is this. It becomes a child subreaper, so that a new
// build that took over is re-parented to it when the old build exits, and
// gives the service a NOTIFY_SOCKET through which a handoff names its new
// process the main one at the commit (see the handoff's notification:
// systemd's sd_notify "MAINPID="). Signals are forwarded to the main
// process of the moment. A service that never names a successor is
// followed by the newest child left when its main process exits.
//
// Run returns when no child is left, with the exit status of the last
// main process (128 plus the signal's number for one killed by a signal).
// It reaps every child of this process: run it in a process that starts
// nothing else. When ctx ends, SIGTERM is forwarded to the main process
// and Run goes on until the children are gone.
func Run(ctx context.Context, cmd *exec.Cmd, opts RunOptions) (int, error) {
	if err := setSubreaper(1); err != nil {
		return 0, fmt.Errorf("handoff: run: become a subreaper: %w", err)
	}
	defer setSubreaper(0)
	dir, err := os.MkdirTemp("", "graft-run-")
	if err != nil {
		return 0, fmt.Errorf("handoff: run: %w", err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return 0, fmt.Errorf("handoff: run: notification socket: %w", err)
	}
	env := cmd.Environ()
	env = append(slicesDeletePrefix(env, "NOTIFY_SOCKET="), "NOTIFY_SOCKET="+sock)
	cmd.Env = env
	signals := opts.Signals
	if signals == nil {
		ch := make(chan os.Signal, 8)
		signal.Notify(ch, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
		defer signal.Stop(ch)
		signals = ch
	}
	onMain := func(pid int) {
		if opts.OnMain != nil {
			_ = recovered(func() error { opts.OnMain(pid); return nil })
		}
	}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return 0, fmt.Errorf("handoff: run: %w", err)
	}

	var wg sync.WaitGroup
	mains, drained := make(chan int, 16), make(chan struct{})
	wg.Add(1)
	go func() { // the notifications; ends when conn closes
		defer wg.Done()
		defer close(mains)
		readNotifications(conn, mains, drained)
	}()
	// drain takes every notification sent so far: the reader reads what
	// the socket holds without waiting, then says so. (A successor named
	// by a process that has exited is in the socket by then.)
	drain := func(take func(pid int)) {
		_ = conn.SetReadDeadline(time.Now())
		for {
			select {
			case pid, ok := <-mains:
				if !ok {
					return
				}
				take(pid)
			case <-drained:
				return
			}
		}
	}
	type exited struct {
		pid    int
		status int
	}
	reaped := make(chan exited, 16)
	wg.Add(1)
	go func() { // every child's exit; ends when none is left
		defer wg.Done()
		defer close(reaped)
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, 0, nil)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil {
				return // ECHILD: no child left
			}
			status := ws.ExitStatus()
			if ws.Signaled() {
				status = 128 + int(ws.Signal())
			}
			reaped <- exited{pid, status}
		}
	}()
	defer func() {
		conn.Close()
		for range mains {
		}
		wg.Wait()
	}()

	main, named, status := cmd.Process.Pid, false, 0
	onMain(main)
	done := ctx.Done()
	for {
		select {
		case pid, ok := <-mains:
			if !ok {
				mains = nil
				continue
			}
			if pid != main {
				main, named = pid, true
				onMain(pid)
			}
		case e, ok := <-reaped:
			if !ok {
				return status, nil
			}
			if e.pid != main {
				continue
			}
			status = e.status
			if mains != nil { // a successor named before the exit is taken first
				drain(func(pid int) {
					if pid != main {
						main, named = pid, true
					}
				})
			}
			if main == e.pid {
				main = 0
				if !named {
					main = newestChild()
				}
			}
			onMain(main)
		case sig := <-signals:
			if s, ok := sig.(syscall.Signal); ok && main > 0 {
				_ = syscall.Kill(main, s)
			}
		case <-done:
			done = nil
			if main > 0 {
				_ = syscall.Kill(main, syscall.SIGTERM)
			}
		}
	}
}

const prSetChildSubreaper = 36

func setSubreaper(on uintptr) error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, on, 0); errno != 0 {
		return errno
	}
	return nil
}

// readNotifications sends the PIDs that notifications name the main
// process ("MAINPID=") to mains, until conn closes. A read deadline is a
// request to drain: it reads what the socket holds without waiting, then
// signals drained.
func readNotifications(conn *net.UnixConn, mains chan<- int, drained chan<- struct{}) {
	buf := make([]byte, 4096)
	parse := func(b []byte) {
		for _, line := range bytes.Split(b, []byte("\n")) {
			if v, ok := bytes.CutPrefix(line, []byte("MAINPID=")); ok {
				if pid, err := strconv.Atoi(string(v)); err == nil && pid > 0 {
					mains <- pid
				}
			}
		}
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return
	}
	for {
		n, err := conn.Read(buf)
		switch {
		case err == nil:
			parse(buf[:n])
		case errors.Is(err, os.ErrDeadlineExceeded):
			_ = conn.SetReadDeadline(time.Time{}) // else RawConn.Read refuses at once
			_ = rc.Read(func(fd uintptr) bool {
				for {
					n, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
					if err != nil {
						return true
					}
					parse(buf[:n])
				}
			})
			drained <- struct{}{}
		case errors.Is(err, net.ErrClosed):
			return
		}
	}
}

// newestChild returns the most recently started live child of this
// process, 0 if none.
func newestChild() int {
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	best, bestStart := 0, uint64(0)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... starttime (the 22nd field): comm may
		// hold spaces and parentheses, so fields count from the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 20 || f[0] == "Z" || f[1] != strconv.Itoa(self) {
			continue
		}
		start, err := strconv.ParseUint(f[19], 10, 64)
		if err == nil && (best == 0 || start > bestStart) {
			best, bestStart = pid, start
		}
	}
	return best
}

func slicesDeletePrefix(env []string, prefix string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}
