package dtabsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"
)

// fileSource reads a file; its version is its mtime and a hash of its
// content, so a rewrite with the same bytes is not a change.
type fileSource struct {
	path string
}

func newFile(path string) (*fileSource, error) {
	if path == "" {
		return nil, fmt.Errorf("dtabsource: file source needs a path")
	}
	return &fileSource{path: path}, nil
}

func (f *fileSource) String() string { return "file:" + f.path }

func (f *fileSource) Fetch(_ context.Context, prev string) (Fetched, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return Fetched{}, fmt.Errorf("dtabsource: read %s: %w", f.path, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return Fetched{}, fmt.Errorf("dtabsource: stat %s: %w", f.path, err)
	}
	b, err := io.ReadAll(io.LimitReader(fh, MaxDtabBytes+1))
	if err != nil {
		return Fetched{}, fmt.Errorf("dtabsource: read %s: %w", f.path, err)
	}
	if len(b) > MaxDtabBytes {
		return Fetched{}, fmt.Errorf("dtabsource: %s is larger than %d bytes", f.path, MaxDtabBytes)
	}
	sum := sha256.Sum256(b)
	v := st.ModTime().UTC().Format(time.RFC3339) + " sha256:" + hex.EncodeToString(sum[:6])
	if v == prev {
		return Fetched{Version: v}, nil
	}
	return Fetched{Dtab: string(b), Version: v, Changed: true}, nil
}

var _ Source = (*fileSource)(nil)
