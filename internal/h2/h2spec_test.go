package h2

import (
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/slinkerd/slinkerd/internal/h2spec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// h2specBin is .tools/h2spec at the repository's root.
func h2specBin() (string, bool) {
	p, err := filepath.Abs("../../.tools/h2spec")
	if err != nil {
		return "", false
	}
	st, err := os.Stat(p)
	return p, err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// TestH2spec runs h2spec against this server and against net/http's own
// h2c server with the same handler: this server may fail only cases
// net/http fails too.
func TestH2spec(t *testing.T) {
	bin, ok := h2specBin()
	if !ok {
		t.Skip("h2spec is not installed in .tools/: run `make tools`")
	}
	if testing.Short() {
		t.Skip("h2spec takes a while")
	}
	ok200 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	})
	ours := startServer(t, Config{Handler: ok200})
	_, ourPort := splitHostPort(t, ours.addr)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	goSrv := &http.Server{Handler: ok200, Protocols: new(http.Protocols), ErrorLog: log.New(io.Discard, "", 0)}
	goSrv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = goSrv.Serve(ln) }()
	t.Cleanup(func() { _ = goSrv.Close() })
	_, goPort := splitHostPort(t, ln.Addr().String())

	c, err := h2spec.Compare(bin, t.TempDir(), ourPort, goPort)
	require.NoError(t, err)
	our, goRes := c.Got, c.Ref
	t.Logf("h2spec: h2.Server passed %d of %d; net/http passed %d of %d", our.Total-len(our.Failed), our.Total, goRes.Total-len(goRes.Failed), goRes.Total)
	t.Logf("h2spec: net/http fails:\n%s", goRes)
	t.Logf("h2spec: h2.Server fails:\n%s", our)
	assert.Empty(t, c.Extra, "h2spec cases h2.Server fails (twice) but net/http passes")
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	host, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	return host, port
}
