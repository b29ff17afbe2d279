package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// output collects what run prints and says when a status line came.
type output struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	once   sync.Once
	status chan struct{}
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if strings.Contains(string(p), "  sent ") {
		o.once.Do(func() { close(o.status) })
	}
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// The command as `make run` starts it, on free ports: it prints where to
// look and what to run first, then status lines; stopped, it checks the
// books and reports nothing lost.
func TestRun(t *testing.T) {
	o := defaults()
	o.Admin, o.HTTP = "127.0.0.1:0", "127.0.0.1:0"
	o.Accounts, o.Rate, o.Status = 10, 500, 20*time.Millisecond
	o.Log = filepath.Join(t.TempDir(), "bank.log")
	out := &output{status: make(chan struct{})}
	var stderr bytes.Buffer
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, out, &stderr, o) }()

	select {
	case <-out.status:
	case err := <-errc:
		t.Fatalf("run returned before its first status line: %v\n%s", err, out)
	case <-time.After(30 * time.Second):
		t.Fatalf("no status line:\n%s", out)
	}
	intro := out.String()
	token := regexp.MustCompile(`Token file +(\S+)`).FindStringSubmatch(intro)
	require.NotNil(t, token, intro)
	data, err := os.ReadFile(token[1])
	require.NoError(t, err, "the token file exists while the bank runs")
	view := regexp.MustCompile(`Live view +(http://127\.0\.0\.1:(\d+)/#token=(\w+))`).FindStringSubmatch(intro)
	require.NotNil(t, view, intro)
	assert.Equal(t, view[3], strings.TrimSpace(string(data)))
	graft := "bin/graft --addr 127.0.0.1:" + view[2]
	for _, cmd := range []string{
		graft + " upgrade --module account --to v2\n",
		graft + " upgrade --module account --to v3 --mode rolling --waves 0.1,1 --observe 2s --max-crashes 0\n",
		graft + " downgrade --module account --to v1\n",
		"make plugins\n",
		graft + " upgrade --module account --to v4 --path bin/plugins/account-v4 --checksum $(sha256sum bin/plugins/account-v4 | cut -d' ' -f1)\n",
	} {
		assert.Contains(t, intro, cmd)
	}
	assert.Less(t, strings.Index(intro, "Live view"), strings.Index(intro, "  sent "), "the URL comes first")

	stop()
	require.NoError(t, <-errc)
	report := out.String()
	assert.Regexp(t, `\d\d:\d\d:\d\d  accounts 10 \(v1 10\)  sent \d+  handled \d+ \(refused \d+\)  failed 0  lost 0\n`, report)
	assert.Regexp(t, `\nsent (\d+), handled (\d+) \(refused \d+\), failed 0, lost 0\nbooks: 10 accounts, \d+ cents in all; every balance is what the books say\n$`, report)
	_, err = os.Stat(token[1])
	assert.ErrorIs(t, err, os.ErrNotExist, "the token file goes with the bank")
	logged, err := os.ReadFile(o.Log)
	require.NoError(t, err)
	assert.Contains(t, string(logged), "child started")
	assert.NotContains(t, stderr.String(), "child started", "only warnings reach the terminal")
}

func TestTerminalLogsLeaveStacksOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bank.log")
	var stderr bytes.Buffer
	log, done, err := newLogger(path, "info", &stderr)
	require.NoError(t, err)
	log.Info("quiet")
	log.With(zap.String("stack", "frame-one")).Error("crashed", zap.String("reason", "panic"))
	log.Error("crashed again", zap.String("stack", "frame-two"))
	done()
	assert.NotContains(t, stderr.String(), "quiet")
	assert.Contains(t, stderr.String(), "crashed")
	assert.Contains(t, stderr.String(), "panic")
	assert.NotContains(t, stderr.String(), "frame-")
	file, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, s := range []string{"quiet", "frame-one", "frame-two"} {
		assert.Contains(t, string(file), s)
	}
}
