package handoffdemo

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/handoff"
)

// lines collects the lines of a stream and waits for one.
type lines struct {
	mu   sync.Mutex
	all  []string
	more chan struct{}
}

func (l *lines) read(f *os.File) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l.mu.Lock()
		l.all = append(l.all, sc.Text())
		close(l.more)
		l.more = make(chan struct{})
		l.mu.Unlock()
	}
	f.Close()
}

func (l *lines) await(t *testing.T, want string) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		found := false
		for _, s := range l.all {
			found = found || s == want
		}
		more := l.more
		l.mu.Unlock()
		if found {
			return
		}
		select {
		case <-more:
		case <-deadline.C:
			t.Fatalf("no line %q within %v", want, wait)
		}
	}
}

// graft run stays the service's parent while builds take over from each
// other under load: signals sent to it reach the build serving at the
// time (SIGHUP starts each handoff), it follows each new build (named by
// the handoff), and a SIGTERM ends the service and graft run with status
// 0. No request fails; every balance is kept.
func TestGraftRunAcrossHandoffs(t *testing.T) {
	dir := t.TempDir()
	graft := buildGraft(t, dir)
	bins := build(t, dir, "v1", "v2")
	r, w, err := os.Pipe()
	require.NoError(t, err)
	errs := &lines{more: make(chan struct{})}
	readDone := make(chan struct{})
	go func() {
		errs.read(r)
		close(readDone)
	}()
	const accounts = 5
	s := startUnder(t, []string{graft, "run", "--"}, w, bins["v1"], dir, accounts)
	w.Close()
	errs.await(t, fmt.Sprintf("graft run: main process %d", s.cur))
	l := startLoad(s.addr, accounts, 2)
	defer func() {
		select {
		case <-l.stop:
		default:
			l.end()
		}
	}()
	for n, bin := range []string{bins["v2"], bins["v1"], bins["v2"]} {
		rep, errText := s.handoff(t, bin)
		require.Equal(t, handoff.Committed, rep.Outcome, "swap %d: %s", n+1, errText)
		errs.await(t, fmt.Sprintf("graft run: main process %d", s.cur))
	}
	l.end()
	assert.Zero(t, l.failed.Load(), "failed requests (last: %v)", l.lastErr.Load())
	got := balances(t, s.addr, accounts)
	for i := range accounts {
		assert.Equal(t, l.sums[i].Load(), got[i], "account %d", i)
	}

	require.NoError(t, syscall.Kill(s.via, syscall.SIGTERM))
	select {
	case err := <-s.exited:
		require.NoError(t, err, "graft run exits with the service's status, 0")
	case <-time.After(wait):
		t.Fatal("graft run did not exit")
	}
	s.cur = 0
	<-readDone
	assert.Contains(t, errs.all, "graft run: the main process exited; waiting for what is left")
	for _, line := range errs.all {
		assert.False(t, strings.HasPrefix(line, "graft: "), "graft run reported an error: %s", line)
	}
}
