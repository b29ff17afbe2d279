package handoffdemo

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/graftrt/graft/handoff"
)

var swaps = flag.Int("handoff.swaps", 3, "handoffs between the two builds in TestSwapUnderLoad")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds each wait for the services' output.
const wait = 20 * time.Second

// line is one line of a service's output.
type line struct {
	Event   string          `json:"event"`
	PID     int             `json:"pid"`
	Variant string          `json:"variant"`
	Addr    string          `json:"addr"`
	Step    string          `json:"step"`
	Status  string          `json:"status"`
	Err     string          `json:"err"`
	Report  *handoff.Report `json:"report"`
}

// output collects the lines every process of a service prints (a new
// build inherits its predecessor's stdout).
type output struct {
	mu    sync.Mutex
	lines []line
	more  chan struct{} // closed and replaced at each line
	t     *testing.T
}

func (o *output) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			continue
		}
		o.mu.Lock()
		o.lines = append(o.lines, l)
		close(o.more)
		o.more = make(chan struct{})
		o.mu.Unlock()
	}
}

// await waits for the first line from index from on that match accepts,
// and returns it with the index after it.
func (o *output) await(t *testing.T, from int, what string, match func(line) bool) (line, int) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		for i := from; i < len(o.lines); i++ {
			if match(o.lines[i]) {
				l := o.lines[i]
				o.mu.Unlock()
				return l, i + 1
			}
		}
		from = len(o.lines)
		more := o.more
		o.mu.Unlock()
		select {
		case <-more:
		case <-deadline.C:
			t.Fatalf("no %s within %v", what, wait)
		}
	}
}

// build builds bankd in each variant.
func build(t *testing.T, dir string, variants ...string) map[string]string {
	out := map[string]string{}
	for _, v := range variants {
		path := filepath.Join(dir, "bankd-"+v)
		cmd := exec.Command("go", "build", "-ldflags", "-X main.variant="+v, "-o", path, "./cmd/bankd")
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Run(), "go build %s", v)
		out[v] = path
	}
	return out
}

// service is a running bankd and its successors.
type service struct {
	out  *output
	cmd  *exec.Cmd
	next string // the file SIGHUP reads
	cur  int    // the OS PID serving now
	addr string
	seen int // lines looked at
	done chan struct{}
	// via, if set, is the process signals go to (graft run), which
	// passes them on to the one serving; exited has cmd's end.
	via    int
	exited chan error
}

func start(t *testing.T, bin, dir string, accounts int, args ...string) *service {
	return startUnder(t, nil, os.Stderr, bin, dir, accounts, args...)
}

// startUnder starts bin under the command wrapper (none if nil) with
// stderr as its standard error.
func startUnder(t *testing.T, wrapper []string, stderr *os.File, bin, dir string, accounts int, args ...string) *service {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	s := &service{out: &output{more: make(chan struct{}), t: t}, next: filepath.Join(dir, "next"), done: make(chan struct{}),
		exited: make(chan error, 1)}
	argv := append([]string{bin, "-addr", "127.0.0.1:0", "-accounts", strconv.Itoa(accounts), "-next", s.next}, args...)
	argv = append(slices.Clone(wrapper), argv...)
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = w, stderr
	require.NoError(t, s.cmd.Start())
	w.Close()
	if wrapper != nil {
		s.via = s.cmd.Process.Pid
	}
	go func() {
		s.out.read(r)
		r.Close()
		close(s.done)
	}()
	go func() { s.exited <- s.cmd.Wait() }()
	l, i := s.out.await(t, 0, "listening", func(l line) bool { return l.Event == "listening" })
	s.cur, s.addr, s.seen = l.PID, l.Addr, i
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop ends the process serving now and waits for the output to end
// (every process of the service gone).
func (s *service) stop(t *testing.T) {
	cur := s.cur
	if cur != 0 {
		_ = syscall.Kill(s.target(), syscall.SIGTERM)
		s.cur = 0
	}
	select {
	case <-s.done:
	case <-time.After(wait):
		t.Errorf("the service's output did not end within %v", wait)
		if cur != 0 {
			_ = syscall.Kill(cur, syscall.SIGQUIT) // its goroutines, on stderr
		}
	}
}

// target is where signals for the process serving now go.
func (s *service) target() int {
	if s.via != 0 {
		return s.via
	}
	return s.cur
}

// handoff points SIGHUP at bin and sends it; it returns the report.
func (s *service) handoff(t *testing.T, bin string) (*handoff.Report, string) {
	t.Helper()
	sum, err := handoff.Checksum(bin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(s.next, []byte(bin+" "+sum+"\n"), 0o600))
	old, from := s.cur, s.seen
	require.NoError(t, syscall.Kill(s.target(), syscall.SIGHUP))
	l, i := s.out.await(t, from, "report", func(l line) bool { return l.Event == "report" && l.PID == old })
	s.seen = max(s.seen, i)
	require.NotNil(t, l.Report, l.Err)
	if l.Report.Outcome == handoff.Committed {
		// The new process serves; the old one exits once drained, which
		// closes the new one's channel. (The processes' lines interleave.)
		nl, i := s.out.await(t, from, "the new process listening", func(x line) bool {
			return x.Event == "listening" && x.PID == l.Report.NewPID
		})
		s.cur, s.seen = nl.PID, max(s.seen, i)
		_, i = s.out.await(t, from, "the old process's exit", func(x line) bool { return x.Event == "exit" && x.PID == old })
		s.seen = max(s.seen, i)
		_, i = s.out.await(t, from, "the channel closed", func(x line) bool {
			return x.Event == "step" && x.PID == nl.PID && x.Status == "closed"
		})
		s.seen = max(s.seen, i)
		assert.Equal(t, s.addr, nl.Addr, "the same socket")
	}
	return l.Report, l.Err
}

// load deposits into random accounts from a few clients, keeping books.
type load struct {
	ok, failed atomic.Int64
	sums       []atomic.Int64
	stop       chan struct{}
	wg         sync.WaitGroup
	lastErr    atomic.Value
}

func startLoad(addr string, accounts, clients int) *load {
	l := &load{sums: make([]atomic.Int64, accounts), stop: make(chan struct{})}
	// A new connection per request: a keep-alive connection that the old
	// process closes as it drains can race with a request sent on it,
	// which a client cannot tell from a failure.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for c := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				i, n := rng.IntN(accounts), int64(1+rng.IntN(9))
				resp, err := hc.Post(fmt.Sprintf("http://%s/deposit?acct=%d&amount=%d", addr, i, n), "text/plain", nil)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				if err != nil {
					l.failed.Add(1)
					l.lastErr.Store(err.Error())
					continue
				}
				l.ok.Add(1)
				l.sums[i].Add(n)
			}
		}()
	}
	return l
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

func balances(t *testing.T, addr string, n int) []int64 {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	out := make([]int64, n)
	for i := range n {
		resp, err := hc.Get(fmt.Sprintf("http://%s/balance?acct=%d", addr, i))
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		out[i], err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		require.NoError(t, err)
	}
	return out
}

// The two builds swap under steady load; before that, four new builds
// fail at four different steps, and each time the old process resumes.
// Throughout: no failed request, no lost deposit.
func TestSwapUnderLoad(t *testing.T) {
	dir := t.TempDir()
	bins := build(t, dir, "v1", "v2", "crash", "unhealthy", "hang", "gap", "migratefail", "restorecrash")
	const accounts = 20
	s := start(t, bins["v1"], dir, accounts)
	l := startLoad(s.addr, accounts, 4)
	defer func() {
		select {
		case <-l.stop:
		default:
			l.end()
		}
	}()
	// A new build that crashes at start.
	rep, errText := s.handoff(t, bins["crash"])
	assert.Equal(t, handoff.Refused, rep.Outcome)
	assert.Equal(t, handoff.StepStart, rep.Step, errText)
	assert.Contains(t, errText, "exit status 3")

	// One whose lineage lacks v2: refused at prepare, nothing suspended.
	rep, errText = s.handoff(t, bins["gap"])
	assert.Equal(t, handoff.Refused, rep.Outcome)
	assert.Equal(t, handoff.StepPrepare, rep.Step)
	assert.Contains(t, errText, "v2")

	// One whose migration fails, and one that crashes while it restores.
	rep, errText = s.handoff(t, bins["migratefail"])
	assert.Equal(t, handoff.Aborted, rep.Outcome)
	assert.Equal(t, handoff.StepRebuild, rep.Step)
	assert.Contains(t, errText, "migration fails")
	rep, errText = s.handoff(t, bins["restorecrash"])
	assert.Equal(t, handoff.Aborted, rep.Outcome)
	assert.Equal(t, handoff.StepRebuild, rep.Step)
	assert.Contains(t, errText, "exit status 4")

	// One whose health check fails.
	rep, errText = s.handoff(t, bins["unhealthy"])
	assert.Equal(t, handoff.Aborted, rep.Outcome)
	assert.Equal(t, handoff.StepHealth, rep.Step)
	assert.Contains(t, errText, "health check fails")

	// One killed (SIGKILL) while it rebuilds: its migration hangs.
	sum, err := handoff.Checksum(bins["hang"])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(s.next, []byte(bins["hang"]+" "+sum+"\n"), 0o600))
	require.NoError(t, syscall.Kill(s.cur, syscall.SIGHUP))
	hung, i := s.out.await(t, s.seen, "the hanging migration", func(x line) bool { return x.Event == "migration-hangs" })
	require.NoError(t, syscall.Kill(hung.PID, syscall.SIGKILL))
	rl, i := s.out.await(t, i, "report", func(x line) bool { return x.Event == "report" && x.PID == s.cur })
	s.seen = i
	require.NotNil(t, rl.Report)
	assert.Equal(t, handoff.Aborted, rl.Report.Outcome)
	assert.Equal(t, handoff.StepRebuild, rl.Report.Step)
	assert.Contains(t, rl.Err, "killed")
	for _, p := range rl.Report.Processes {
		assert.Equal(t, "resumed", p.Result)
	}

	// The swaps.
	var pauses []time.Duration
	for n := range *swaps {
		target, from, to := bins["v2"], "v1", "v2"
		if n%2 == 1 {
			target, from, to = bins["v1"], "v2", "v1"
		}
		rep, errText := s.handoff(t, target)
		require.Equal(t, handoff.Committed, rep.Outcome, "swap %d: %s", n+1, errText)
		require.Len(t, rep.Processes, accounts)
		for _, p := range rep.Processes {
			assert.Equal(t, from, p.From)
			assert.Equal(t, to, p.To)
			assert.Equal(t, "moved", p.Result)
		}
		pauses = append(pauses, rep.Pause)
		t.Logf("swap %d %s→%s: total %v, pause %v, %d bytes, %d forwarded; %d requests so far, %d failed",
			n+1, from, to, rep.Total, rep.Pause, rep.Bytes, rep.Forwarded, l.ok.Load(), l.failed.Load())
	}
	l.end()
	assert.Zero(t, l.failed.Load(), "failed requests (last: %v)", l.lastErr.Load())
	assert.Positive(t, l.ok.Load())
	got := balances(t, s.addr, accounts)
	for i := range accounts {
		assert.Equal(t, l.sums[i].Load(), got[i], "account %d", i)
	}
	t.Logf("%d swaps, %d requests, 0 lost; pauses %v", *swaps, l.ok.Load(), pauses)
}

// A node running a version without a codec refuses a handoff, naming the
// module, before anything is suspended; it serves on.
func TestSwapRefusedWithoutCodec(t *testing.T) {
	dir := t.TempDir()
	bins := build(t, dir, "nocodec", "v2")
	s := start(t, bins["nocodec"], dir, 3)
	rep, errText := s.handoff(t, bins["v2"])
	assert.Equal(t, handoff.Refused, rep.Outcome)
	assert.Equal(t, handoff.StepPrepare, rep.Step)
	assert.Contains(t, errText, "account@v1")
	assert.Equal(t, []int64{0, 0, 0}, balances(t, s.addr, 3))
}
