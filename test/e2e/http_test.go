package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seededStream returns n deterministic pseudo-random bytes for seed.
func seededStream(seed uint64, n int64) io.Reader {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	return io.LimitReader(rand.NewChaCha8(key), n)
}

// sha256Of returns the hex SHA-256 of r's bytes and their count.
func sha256Of(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

func streamSHA(seed uint64, n int64) string {
	s, _, _ := sha256Of(seededStream(seed, n))
	return s
}

// echoBackend is the HTTP backend of the HTTP tests. Its responses report
// what it received in X-Got-* headers so the test can assert on them:
//
//	/upload    hashes the request body: X-Got-Sha256, X-Got-Bytes,
//	           X-Got-Content-Length, X-Got-Transfer-Encoding
//	/download  ?size=N&seed=S[&chunked=1]: N bytes of seededStream(S);
//	           with chunked=1 no Content-Length, written in pieces, and
//	           the hash in the X-Sha256 trailer
//	/early     answers like anything else, without reading the body
//	anything   200 "hello from <name>: <method> <request URI>"
//
// Every response carries X-Got-Proto (the request's protocol) and
// X-Backend (name).
func echoBackend(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		w.Header().Set("X-Got-Proto", r.Proto)
		switch r.URL.Path {
		case "/upload":
			sum, n, err := sha256Of(r.Body)
			if err != nil {
				http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("X-Got-Sha256", sum)
			w.Header().Set("X-Got-Bytes", strconv.FormatInt(n, 10))
			w.Header().Set("X-Got-Content-Length", strconv.FormatInt(r.ContentLength, 10))
			w.Header().Set("X-Got-Transfer-Encoding", strings.Join(r.TransferEncoding, ","))
			fmt.Fprintf(w, "%d %s", n, sum)
		case "/download":
			size, _ := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
			seed, _ := strconv.ParseUint(r.URL.Query().Get("seed"), 10, 64)
			if r.URL.Query().Get("chunked") != "1" {
				w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
				_, _ = io.Copy(w, seededStream(seed, size))
				return
			}
			w.Header().Set("Trailer", "X-Sha256")
			h := sha256.New()
			src := io.TeeReader(seededStream(seed, size), h)
			buf := make([]byte, 100_000)
			for {
				n, err := io.ReadFull(src, buf)
				if n > 0 {
					_, _ = w.Write(buf[:n])
					http.NewResponseController(w).Flush()
				}
				if err != nil {
					break
				}
			}
			w.Header().Set("X-Sha256", hex.EncodeToString(h.Sum(nil)))
		case "/early":
			// Answer without reading the body. Full duplex, or Go's
			// HTTP/1.1 server would first try to read the body to its end.
			_ = http.NewResponseController(w).EnableFullDuplex()
			fmt.Fprintf(w, "hello from %s: %s %s", name, r.Method, r.URL.RequestURI())
		default:
			fmt.Fprintf(w, "hello from %s: %s %s", name, r.Method, r.URL.RequestURI())
		}
	})
}

func newRequest(t *testing.T, method, url, host string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	req.Host = host
	return req
}

// TestHTTP1 sends HTTP/1.1 requests through slinkerd to a backend found
// by the io.l5d.fs namer: a GET, 10 MB bodies streamed both ways with
// known and unknown (chunked) lengths, response trailers, and a response
// that must reach the client before the backend has finished it.
func TestHTTP1(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/", echoBackend("web-1"))
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first part\n")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(w, "second part\n")
	})
	be := startHTTPBackend(t, mux)
	dir := writeFSDir(t, map[string][]*Backend{"web": {be}})
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_DTAB":   "/svc=>/#/io.l5d.fs",
		"SLINKERD_FS_DIR": dir,
	})
	c := newH1Client(t)
	const size = 10 << 20

	t.Run("GET", func(t *testing.T) {
		resp, err := c.Do(newRequest(t, http.MethodGet, p.URL()+"/a/b?x=1&y=%2F", "web", nil))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "hello from web-1: GET /a/b?x=1&y=%2F", string(body))
		assert.Equal(t, "web-1", resp.Header.Get("X-Backend"))
		assert.Equal(t, "HTTP/1.1", resp.Header.Get("X-Got-Proto"))
		assert.Empty(t, resp.Header.Get("l5d-err"))
	})

	tests := []struct {
		name    string
		chunked bool // send the body with an unknown length
	}{
		{name: "POST 10MB streamed, Content-Length", chunked: false},
		{name: "POST 10MB streamed, chunked", chunked: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = seededStream(1, size)
			if tc.chunked {
				// A reader the transport cannot size: sent chunked.
				pr, pw := io.Pipe()
				go func() {
					_, err := io.Copy(pw, seededStream(1, size))
					pw.CloseWithError(err)
				}()
				body = pr
			}
			req := newRequest(t, http.MethodPost, p.URL()+"/upload", "web", body)
			if !tc.chunked {
				req.ContentLength = size
			}
			resp, err := c.Do(req)
			require.NoError(t, err)
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, "body %q, l5d-err %q", got, resp.Header.Get("l5d-err"))
			want := streamSHA(1, size)
			assert.Equal(t, fmt.Sprintf("%d %s", size, want), string(got))
			assert.Equal(t, want, resp.Header.Get("X-Got-Sha256"))
			if tc.chunked {
				assert.Equal(t, "-1", resp.Header.Get("X-Got-Content-Length"), "the backend should get an unknown length")
				assert.Equal(t, "chunked", resp.Header.Get("X-Got-Transfer-Encoding"))
			} else {
				assert.Equal(t, strconv.Itoa(size), resp.Header.Get("X-Got-Content-Length"))
				assert.Empty(t, resp.Header.Get("X-Got-Transfer-Encoding"))
			}
		})
	}

	downloads := []struct {
		name    string
		chunked bool
	}{
		{name: "GET 10MB response, Content-Length"},
		{name: "GET 10MB response, chunked with trailer", chunked: true},
	}
	for _, tc := range downloads {
		t.Run(tc.name, func(t *testing.T) {
			url := fmt.Sprintf("%s/download?size=%d&seed=7", p.URL(), size)
			if tc.chunked {
				url += "&chunked=1"
			}
			resp, err := c.Do(newRequest(t, http.MethodGet, url, "web", nil))
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			sum, n, err := sha256Of(resp.Body)
			require.NoError(t, err)
			assert.EqualValues(t, size, n)
			want := streamSHA(7, size)
			assert.Equal(t, want, sum)
			if tc.chunked {
				assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
				assert.EqualValues(t, -1, resp.ContentLength)
				assert.Equal(t, want, resp.Trailer.Get("X-Sha256"), "the backend's trailer should reach the client")
			} else {
				assert.EqualValues(t, size, resp.ContentLength)
			}
		})
	}

	t.Run("response ends before the request body does", func(t *testing.T) {
		checkEarlyResponse(t, c, p.URL(), "web")
	})

	t.Run("response streams before the backend finishes", func(t *testing.T) {
		resp, err := c.Do(newRequest(t, http.MethodGet, p.URL()+"/stream", "web", nil))
		require.NoError(t, err)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		first := make(chan string, 1)
		go func() {
			line, _ := br.ReadString('\n')
			first <- line
		}()
		// The backend holds the rest until release: the first part must
		// arrive on its own, or the proxy is buffering.
		assert.Equal(t, "first part\n", recv(t, first, 5*time.Second, "the first part of a streamed response"))
		close(release)
		rest, err := io.ReadAll(br)
		require.NoError(t, err)
		assert.Equal(t, "second part\n", string(rest))
	})
}

// TestH2C sends cleartext HTTP/2 (prior knowledge) through slinkerd: the
// backend must see HTTP/2 too, and bodies and trailers must pass.
func TestH2C(t *testing.T) {
	t.Parallel()
	be := startH2CBackend(t, echoBackend("h2"))
	p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": inetDtab("h2", be.Port)})
	c := newH2CClient(t)

	t.Run("GET", func(t *testing.T) {
		resp, err := c.Do(newRequest(t, http.MethodGet, p.URL()+"/x?q=1", "h2", nil))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, 2, resp.ProtoMajor, "slinkerd should answer over HTTP/2")
		assert.Equal(t, "HTTP/2.0", resp.Header.Get("X-Got-Proto"), "the backend should be reached over HTTP/2")
		assert.Equal(t, "hello from h2: GET /x?q=1", string(body))
	})

	t.Run("POST 4MB", func(t *testing.T) {
		const size = 4 << 20
		resp, err := c.Do(newRequest(t, http.MethodPost, p.URL()+"/upload", "h2", seededStream(3, size)))
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "l5d-err %q", resp.Header.Get("l5d-err"))
		assert.Equal(t, 2, resp.ProtoMajor)
		assert.Equal(t, "HTTP/2.0", resp.Header.Get("X-Got-Proto"))
		assert.Equal(t, fmt.Sprintf("%d %s", size, streamSHA(3, size)), string(got))
	})

	t.Run("response ends before the request body does", func(t *testing.T) {
		checkEarlyResponse(t, c, p.URL(), "h2")
	})

	t.Run("GET 4MB with trailer", func(t *testing.T) {
		const size = 4 << 20
		resp, err := c.Do(newRequest(t, http.MethodGet, fmt.Sprintf("%s/download?size=%d&seed=9&chunked=1", p.URL(), size), "h2", nil))
		require.NoError(t, err)
		defer resp.Body.Close()
		sum, n, err := sha256Of(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, 2, resp.ProtoMajor)
		assert.EqualValues(t, size, n)
		want := streamSHA(9, size)
		assert.Equal(t, want, sum)
		assert.Equal(t, want, resp.Trailer.Get("X-Sha256"))
	})
}

// checkEarlyResponse POSTs a body that never ends to host's echo backend,
// which answers without reading it (as a gRPC server does when it fails
// a streaming call). The whole response must arrive at once, though the
// client still holds its request body open.
func checkEarlyResponse(t *testing.T, c *http.Client, proxyURL, host string) {
	t.Helper()
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write([]byte("some of the body")) }()
	req := newRequest(t, http.MethodPost, proxyURL+"/early", host, pr)
	done := make(chan string, 1)
	go func() {
		resp, err := c.Do(req)
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		done <- string(b)
	}()
	want := "hello from " + strings.Split(host, ".")[0]
	got := recv(t, done, 5*time.Second, "the whole response while the request body is still open")
	assert.True(t, strings.HasPrefix(got, want), "got %q", got)
	assert.True(t, strings.HasSuffix(got, ": POST /early"), "got %q", got)
}
