package admin_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/admin"
	"github.com/slinkerd/slinkerd/internal/bind"
)

func startAdmin(t *testing.T, handlers map[string]http.Handler) string {
	t.Helper()
	in, err := bind.New(bind.Config{Dtab: name.MustParseDtab("/svc=>/$/inet/127.0.0.1/1"), Namers: &bind.Namers{}})
	require.NoError(t, err)
	s, err := admin.Listen(admin.Config{Addr: "127.0.0.1:0", Interpreter: in, Handlers: handlers})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		<-done
	})
	return "http://" + s.Addr().String()
}

func TestDashboardPagesAndAssetsAreEmbedded(t *testing.T) {
	base := startAdmin(t, map[string]http.Handler{
		"GET /admin/metrics.json": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "{}") }),
	})
	tests := []struct {
		name, path, contentType, contains string
	}{
		{"dashboard", "/", "text/html", `<script src="/ui/dashboard.js"`},
		{"playground", "/delegator", "text/html", `<textarea id="dtab"`},
		{"style", "/ui/style.css", "text/css", ".card"},
		{"dashboard script", "/ui/dashboard.js", "text/javascript", "/admin/metrics.json"},
		{"playground script", "/ui/delegator.js", "text/javascript", "/delegator.json"},
		{"helpers", "/ui/common.js", "text/javascript", "function sparkline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(base + tt.path)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), tt.contentType), resp.Header.Get("Content-Type"))
			assert.Contains(t, string(body), tt.contains)
			assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'")
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			// Nothing is loaded from another origin.
			assert.NotRegexp(t, `(src|href)="(https?:)?//`, string(body))
		})
	}
	for _, path := range []string{"/nosuch", "/ui/nosuch.js"} {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, path)
	}
	// The extra handlers are served next to the dashboard.
	resp, err := http.Get(base + "/admin/metrics.json")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
