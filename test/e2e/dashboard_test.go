package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath is Debian's chromium package, which the browser tests
// drive over the DevTools protocol.
const chromiumPath = "/usr/bin/chromium"

// artifactsDir is where the browser tests leave their screenshots
// (git-ignored).
var artifactsDir = filepath.Join(repoRoot, "test", "artifacts")

// requireChromium fails in CI and skips elsewhere when chromium is not
// installed.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return
	}
	msg := chromiumPath + " is missing: the dashboard browser test needs Debian's chromium (apt-get install chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// newBrowser starts a headless chromium for the test and returns a tab's
// context, bounded by timeout.
func newBrowser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	requireChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, so a failure to launch is reported as such.
	require.NoError(t, chromedp.Do(ctx), "launch %s", chromiumPath)
	return ctx
}

// screenshot saves a full-page PNG under test/artifacts and logs its path.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(artifactsDir, 0o755))
	p := filepath.Join(artifactsDir, name)
	require.NoError(t, os.WriteFile(p, png, 0o644))
	t.Logf("screenshot: %s", p)
}

// trafficLoop sends GETs to each host in turn through the proxy, paced by
// a ticker, until the test ends or max requests were sent. It returns a
// function reporting how many requests got each status.
func trafficLoop(t *testing.T, proxyURL string, hosts []string, every time.Duration, max int) func() map[int]int {
	t.Helper()
	client := newH1Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; i < max; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, proxyURL+"/", nil)
			req.Host = hosts[i%len(hosts)]
			resp, err := client.Do(req)
			if err != nil {
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return func() map[int]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[int]int{}
		for k, v := range statuses {
			out[k] = v
		}
		return out
	}
}

// TestDashboardInBrowser loads the dashboard and the dtab playground in
// headless chromium while traffic flows through slinkerd.
func TestDashboardInBrowser(t *testing.T) {
	ctx := newBrowser(t, 90*time.Second)

	hello1 := startHTTPBackend(t, echoBackend("hello-1"))
	hello2 := startHTTPBackend(t, echoBackend("hello-2"))
	world := startHTTPBackend(t, echoBackend("world"))
	dir := writeFSDir(t, map[string][]*Backend{"hello": {hello1, hello2}, "world": {world}})
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_FS_DIR": dir,
		"SLINKERD_DTAB":   "/svc => /#/io.l5d.fs ; /svc/web => /svc/world",
	})
	sent := trafficLoop(t, p.URL(), []string{"hello", "world", "hello", "nosuch"}, 5*time.Millisecond, 20000)
	waitFor(t, 10*time.Second, "traffic flows through slinkerd", func() bool { return sent()[http.StatusOK] >= 20 })

	// The dashboard: service names, a non-zero request rate, a success
	// rate, and the endpoint tables.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(1440, 1000),
		chromedp.Navigate(p.AdminURL()+"/"),
		chromedp.WaitVisible(chromedp.ID("services")),
	))
	poll := func(what, expr string) {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
		require.NoError(t, err, "waiting until %s", what)
	}
	eval := func(expr string) []string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](expr))
		require.NoError(t, err, expr)
		return v
	}
	text := func(css string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
		require.NoError(t, err, css)
		return v
	}
	for _, svc := range []string{"/svc/hello", "/svc/world"} {
		poll("the dashboard shows a non-zero request rate for "+svc, fmt.Sprintf(
			`(() => { const el = document.querySelector('[data-service="%s"] .value.rps'); return !!el && parseFloat(el.textContent) > 0; })()`, svc))
	}
	// Let the sparklines gather a few points before the screenshot.
	poll("the sparklines have points",
		`(() => { const l = document.querySelectorAll('[data-service="/svc/hello"] .chart polyline'); return l.length === 3 && l[0].getAttribute("points").split(" ").length >= 5; })()`)

	names := eval(`[...document.querySelectorAll('.service .svc-head .name')].map(e => e.textContent)`)
	assert.Subset(t, names, []string{"/svc/hello", "/svc/world", "/svc/nosuch"})
	helloRate := text(`[data-service="/svc/hello"] .value.rps`)
	assert.Regexp(t, `^[0-9.]+k?$`, helloRate)
	assert.NotEqual(t, "0", helloRate)
	assert.Equal(t, "100%", text(`[data-service="/svc/hello"] .pill.sr`), "every request to hello succeeds")
	assert.Equal(t, "0%", text(`[data-service="/svc/nosuch"] .pill.sr`), "nosuch has no route: every request fails")
	assert.Contains(t, text(`[data-service="/svc/hello"] .budget-value`), "left")
	endpoints := eval(`[...document.querySelectorAll('[data-client="/#/io.l5d.fs/hello"] tr[data-endpoint]')].map(e => e.dataset.endpoint)`)
	assert.ElementsMatch(t, []string{hello1.Addr, hello2.Addr}, endpoints)
	states := eval(`[...document.querySelectorAll('[data-client="/#/io.l5d.fs/hello"] .pill.state')].map(e => e.textContent)`)
	assert.Equal(t, []string{"alive", "alive"}, states)
	assert.Regexp(t, `MiB$`, text(`#p-rss`))
	assert.NotEmpty(t, text(`#p-version`))
	screenshot(t, ctx, "dashboard.png")

	// The dtab playground: a dtab of our own, a path, the tree with the
	// bound endpoint.
	dtab := fmt.Sprintf("/svc => /#/io.l5d.fs ;\n/svc/web => ~ | /svc/world ;\n/svc/canary => 0.9 * /svc/hello & 0.1 * /$/inet/127.0.0.1/%d ;", world.Port)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(p.AdminURL()+"/delegator"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)),
	))
	baseDtab, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("dtab")))
	require.NoError(t, err)
	assert.Contains(t, baseDtab, "/svc/web => /svc/world", "prefilled with the base dtab")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("dtab"), dtab),
		chromedp.SetValue(chromedp.ID("path"), "/svc/web/api"),
		chromedp.Click(chromedp.ID("go")),
		chromedp.WaitVisible(chromedp.CSS(`#result .tree .addr`)),
	))
	assert.Equal(t, "bound", text(`#result .pill.result`))
	tree := text(`#result .tree`)
	assert.Contains(t, tree, world.Addr, "the bound endpoint")
	assert.Contains(t, tree, "/#/io.l5d.fs/world", "the bound name")
	assert.Contains(t, tree, "/svc/web => ~ | /svc/world", "the dentry used")
	assert.Contains(t, tree, "/svc/world/api", "the rewritten path with its residual")
	screenshot(t, ctx, "delegator.png")

	// A union: both branches, with weights, and their endpoints.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("path"), "/svc/canary"),
		chromedp.Click(chromedp.ID("go")),
		chromedp.WaitVisible(chromedp.CSS(`#result .tree .type.union`)),
	))
	tree = text(`#result .tree`)
	for _, addr := range []string{hello1.Addr, hello2.Addr, world.Addr} {
		assert.Contains(t, tree, addr)
	}
	assert.True(t, strings.Contains(tree, "0.9") && strings.Contains(tree, "0.1"), "weights shown: %s", tree)
	screenshot(t, ctx, "delegator-union.png")
}

// With SLINKERD_DTAB_SOURCE set, the dashboard's header shows the version
// of the source's dtab in force, as /config.json reports it: which
// routing this instance runs.
func TestDashboardShowsDtabSourceVersion(t *testing.T) {
	ctx := newBrowser(t, 60*time.Second)
	be := startHTTPBackend(t, echoBackend("hello"))
	dtabFile := filepath.Join(t.TempDir(), "dtab")
	require.NoError(t, os.WriteFile(dtabFile, []byte("/svc/hello=>/$/inet/"+strings.Replace(be.Addr, ":", "/", 1)), 0o600))
	p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB_SOURCE": "file:" + dtabFile})

	resp, err := http.Get(p.AdminURL() + "/config.json")
	require.NoError(t, err)
	var cfg struct {
		DtabSource struct {
			Version string `json:"version"`
		} `json:"dtabSource"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&cfg))
	resp.Body.Close()
	require.NotEmpty(t, cfg.DtabSource.Version, "/config.json names the version in force")

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(p.AdminURL()+"/"), chromedp.WaitVisible(chromedp.ID("p-dtab"))))
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("p-dtab-version")))
	require.NoError(t, err)
	assert.Equal(t, cfg.DtabSource.Version, shown)
}
