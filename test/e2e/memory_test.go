package e2e

import (
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// patternReader yields n bytes by repeating a random 64 KiB block: a
// generator, so that neither the test nor the disk holds the upload.
type patternReader struct {
	block []byte
	off   int
	left  int64
}

func newPatternReader(n int64) *patternReader {
	block := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range block {
		block[i] = byte(r.Uint32())
	}
	return &patternReader{block: block, left: n}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := 0
	for n < len(b) {
		c := copy(b[n:], p.block[p.off:])
		n += c
		p.off = (p.off + c) % len(p.block)
	}
	p.left -= int64(n)
	return n, nil
}

// maxPeakRSS is the acceptance bound of issue 3 for a 1 GiB upload.
const maxPeakRSS = 50_000_000 // 50 MB

// TestMemory1GiBUpload streams a 1 GiB request body through slinkerd to a
// backend that counts and discards it, and asserts that slinkerd's peak
// resident set (VmHWM) stays under 50 MB: bodies stream, they are never
// buffered whole.
func TestMemory1GiBUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB upload: skipped with -short")
	}
	t.Parallel()
	const size = 1 << 30
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.CopyBuffer(io.Discard, r.Body, make([]byte, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
	}))
	p := startSlinkerd(t, map[string]string{"SLINKERD_DTAB": inetDtab("sink", be.Port)})
	rss0, peak0, err := procMemory(p.PID())
	require.NoError(t, err)

	req := newRequest(t, http.MethodPost, p.URL()+"/upload", "sink", newPatternReader(size))
	req.ContentLength = size
	start := time.Now()
	resp, err := newH1Client(t).Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	elapsed := time.Since(start)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body %q, l5d-err %q", body, resp.Header.Get("l5d-err"))
	assert.Equal(t, strconv.Itoa(size), string(body), "the backend should count every byte")

	rss, peak, err := procMemory(p.PID())
	require.NoError(t, err)
	t.Logf("peak RSS %d MB (VmHWM %d KiB; at start RSS %d KiB, peak %d KiB; now RSS %d KiB); 1 GiB in %s (%.0f MiB/s)",
		peak/1_000_000, peak>>10, rss0>>10, peak0>>10, rss>>10, elapsed.Round(time.Millisecond), float64(size>>20)/elapsed.Seconds())
	assert.Less(t, peak, uint64(maxPeakRSS), "slinkerd's peak RSS while proxying a 1 GiB upload")
}
