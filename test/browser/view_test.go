package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/graftrt/graft/actor"
	"github.com/graftrt/graft/admin"
	"github.com/graftrt/graft/supervisor"
)

// api is what the test needs of an admin server.
type api struct {
	base  string // URL, prefix included
	view  string // the live view's URL, token in its fragment
	token string
}

func startAdmin(t *testing.T, s *service) api {
	t.Helper()
	srv, err := admin.Start(s.sys, admin.Options{
		Addr:        "127.0.0.1:0",
		TokenFile:   filepath.Join(t.TempDir(), "token"),
		Supervisors: []*supervisor.Handle{s.top},
		Versions:    []*actor.Version{s.v1, s.v2},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, srv.Close(ctx))
	})
	return api{base: srv.URL(), view: srv.ViewURL(), token: srv.Token()}
}

// The live view against the real admin server: the tree on v1, a dry run
// through the page's form, a rolling upgrade to v2 through the API
// followed wave by wave while traffic flows, and a crashing worker's
// restart.
func TestLiveView(t *testing.T) {
	ctx := browser(t)
	s := startService(t)
	srv := startAdmin(t, s)
	stop := s.load()
	t.Cleanup(stop)
	checkLiveView(t, ctx, s, srv)
}

// The live view under admin.Mount's prefix, in a service's own mux: its
// API paths are relative to the page.
func TestLiveViewMounted(t *testing.T) {
	ctx := browser(t)
	s := startService(t)
	mux := http.NewServeMux()
	srv, err := admin.Mount(mux, s.sys, admin.Options{
		Supervisors: []*supervisor.Handle{s.top},
		Versions:    []*actor.Version{s.v1, s.v2},
	})
	require.NoError(t, err)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, srv.Close(ctx)) // ends the page's event stream first
	})
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/graft/#token="+srv.Token())))
	wait(t, ctx, "every worker on v1", workersOn("v1"))
	wait(t, ctx, "the event stream connected", `document.getElementById('conn').dataset.state === 'live'`)
	wait(t, ctx, "the modules", fmt.Sprintf(`!!document.querySelector('#modules tr[data-module=%q][data-current="v1"]')`, workerModule))
}

// browser starts headless Chromium, closed when the test ends.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if testing.Short() {
			t.Skip("chromium not found (skipped under -short): run `make browser-deps`")
		}
		t.Fatal("chromium not found on PATH: run `make browser-deps` (installs Debian's chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses root with its sandbox
	}
	// Every wait below is bounded by this one deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	require.NoError(t, chromedp.Do(bctx), "starting %s", path)
	t.Cleanup(func() {
		if err := chromedp.Cancel(bctx); err != nil {
			t.Logf("closing the browser: %v", err)
		}
		bcancel()
		acancel()
		cancel()
	})
	return bctx
}

func checkLiveView(t *testing.T, ctx context.Context, s *service, srv api) {
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.view)))
	wait(t, ctx, "every worker on v1", workersOn("v1"))
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	require.NoError(t, err)
	assert.NotContains(t, href, srv.token, "the token leaves the address bar")
	wait(t, ctx, "the event stream connected", `document.getElementById('conn').dataset.state === 'live'`)
	wait(t, ctx, "the legend", fmt.Sprintf(`!!document.querySelector('#legend [data-module=%q][data-version="v1"][data-count="%d"]')`, workerModule, workers))

	// A dry run through the page's form: simulated, nothing changes.
	wait(t, ctx, "the modules in the form", fmt.Sprintf(`[...document.querySelectorAll('#f-module option')].some(o => o.value === %q)`, workerModule))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
			const m = document.getElementById('f-module'); m.value = %q; m.dispatchEvent(new Event('change'));
			// v2 is not loaded yet: listed if the server lists the versions
			// a plan may name, else named in the form's free text.
			const v = document.getElementById('f-version');
			v.value = [...v.options].some(o => o.value === 'v2') ? 'v2' : '';
			v.dispatchEvent(new Event('change'));
			document.getElementById('f-vname').value = 'v2'; })()`, workerModule)),
		chromedp.Click(chromedp.CSS(`#f-dry`)),
		chromedp.Click(chromedp.CSS(`#f-submit`)),
	))
	wait(t, ctx, "the form showing the version chosen", `(() => {
		const v = document.getElementById('f-version').value;
		const other = document.getElementById('f-plugin').checkVisibility(); // the free text, for "other…"
		return (v === 'v2' && !other) || (v === '' && other); })()`)
	wait(t, ctx, "the dry run's answer", `document.getElementById('plan-result').dataset.kind === 'ok'`)
	dryID, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('plan-result').dataset.upgradeId`))
	require.NoError(t, err)
	wait(t, ctx, "the dry run simulated", fmt.Sprintf(`(() => { const u = document.getElementById('upgrade');
		return u.dataset.upgradeId === %q && u.dataset.state === 'simulated'
			&& !!document.querySelector('#upgrade-report[data-outcome="simulated"]'); })()`, dryID))
	dry := getUpgrade(t, client, srv, dryID)
	require.NotNil(t, dry.Report)
	assert.True(t, dry.Plan.DryRun)
	assert.Equal(t, "simulated", dry.Report.Outcome)
	wait(t, ctx, "every worker still on v1", workersOn("v1"))

	// A rolling upgrade through the API, in three waves, under load.
	before := s.handled.Load()
	id := postUpgrade(t, client, srv, `{"mode": "rolling", "waves": [0.25, 0.5, 1], "timeout": "30s",
		"changes": [{"module": "worker", "version": "v2"}]}`)
	wait(t, ctx, "the upgrade committed", fmt.Sprintf(`(() => { const u = document.getElementById('upgrade');
		return u.dataset.upgradeId === %q && u.dataset.state === 'committed'
			&& document.querySelectorAll('#waves .wave[data-state="committed"]').length === 3; })()`, id))
	wait(t, ctx, "every worker on v2", workersOn("v2"))
	done := getUpgrade(t, client, srv, id)
	require.NotNil(t, done.Report)
	assert.Equal(t, "committed", done.Report.Outcome)
	assert.Equal(t, workers, done.Report.Counts["migrated"], "report counts: %v", done.Report.Counts)
	require.Eventually(t, func() bool { return s.handled2.Load() > 0 && s.handled.Load() > before },
		30*time.Second, 10*time.Millisecond, "traffic handled on v2")

	// A worker crashes: its restart shows (count, new PID, flash), on v2.
	type node struct{ Key, PID string }
	victim, err := chromedp.Run(ctx, chromedp.Evaluate[node](fmt.Sprintf(`(() => {
		const e = document.querySelectorAll('li.node[data-module=%q]')[3];
		return {Key: e.dataset.key, PID: e.dataset.pid}; })()`, workerModule)))
	require.NoError(t, err)
	pid, err := actor.ParsePID(victim.PID)
	require.NoError(t, err)
	require.NoError(t, s.sys.Send(pid, crash{}))
	wait(t, ctx, "the crashed worker's restart", fmt.Sprintf(`(() => {
		const e = document.querySelector('li.node[data-key=' + JSON.stringify(%q) + ']');
		return !!e && e.dataset.restarts === '1' && e.dataset.pid !== '' && e.dataset.pid !== %q
			&& e.dataset.version === 'v2' && e.dataset.status === 'running' && e.classList.contains('flash'); })()`,
		victim.Key, victim.PID))
	screenshot(t, ctx, "liveview.png")

	// A wrong token is told plainly.
	tab, closeTab := chromedp.NewContext(ctx)
	defer closeTab()
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(strings.TrimSuffix(srv.view, srv.token)+"wrong")))
	wait(t, tab, "the token message", `(() => { const a = document.getElementById('alert');
		return !a.hidden && a.textContent.includes('token missing or wrong — open the URL the service printed'); })()`)
}

// workersOn is a condition: the page shows every worker running version.
func workersOn(version string) string {
	return fmt.Sprintf(`(() => { const ws = [...document.querySelectorAll('li.node[data-module=%q]')];
		return ws.length === %d && ws.every(e => e.dataset.version === %q && e.dataset.status === 'running'); })()`,
		workerModule, workers, version)
}

// wait polls cond in the page until it is true (bounded by ctx); on
// failure it saves a screenshot and says what the page showed.
func wait(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(90*time.Second)))
	if err == nil {
		return
	}
	shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('alert').textContent + ' | ' + document.getElementById('plan-result').textContent + ' | ' +
		document.getElementById('upgrade').textContent + ' | ' + document.getElementById('tree').innerText.replace(/\s+/g, ' ').slice(0, 600)`))
	screenshot(t, ctx, "failed.png")
	t.Fatalf("waiting for %s: %v\nthe page shows: %s", what, err, shown)
}

// screenshot writes a PNG of the page into $GRAFT_ARTIFACTS (else the
// test's temporary directory) and logs its path.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	dir := os.Getenv("GRAFT_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	assert.True(t, bytes.HasPrefix(png, []byte("\x89PNG")), "a PNG")
	t.Logf("screenshot: %s", path)
}

func postUpgrade(t *testing.T, client *http.Client, srv api, plan string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.base+"/api/v1/upgrades", strings.NewReader(plan))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var u admin.Upgrade
	require.NoError(t, json.NewDecoder(res.Body).Decode(&u))
	require.Equal(t, http.StatusAccepted, res.StatusCode, "%+v", u)
	require.NotEmpty(t, u.ID)
	return u.ID
}

func getUpgrade(t *testing.T, client *http.Client, srv api, id string) admin.Upgrade {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.base+"/api/v1/upgrades/"+id, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.token)
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var u admin.Upgrade
	require.NoError(t, json.NewDecoder(res.Body).Decode(&u))
	return u
}
