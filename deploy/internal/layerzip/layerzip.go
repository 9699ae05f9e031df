// Package layerzip writes the slinkerd AWS Lambda layer: a zip whose only
// file is extensions/slinkerd, mode 0755. Lambda extracts a layer into
// /opt, so the binary lands at /opt/extensions/slinkerd, where Lambda
// starts external extensions. `make layer` (through mklayer) and
// `make release` use it; it needs no zip tool.
//
// The zip is reproducible: the same binary and date give the same bytes.
package layerzip

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"time"
)

// ExtensionPath is the binary's path inside the layer zip.
const ExtensionPath = "extensions/slinkerd"

// ModTime is the entries' modification time: SOURCE_DATE_EPOCH (seconds)
// when set, else 2000-01-01 UTC.
func ModTime(epoch string) (time.Time, error) {
	if epoch == "" {
		return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), nil
	}
	s, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", epoch, err)
	}
	return time.Unix(s, 0).UTC(), nil
}

// Write writes the layer zip at out, holding the binary at bin, with
// its entries dated mod; atomically: a failed run leaves no
// half-written zip behind.
func Write(out, bin string, mod time.Time) error {
	return WriteAt(out, bin, ExtensionPath, mod)
}

// WriteAt is Write with the executable at entry in the zip instead of
// extensions/slinkerd: "bootstrap" makes a provided.al2023 function's
// deployment package.
func WriteAt(out, bin, entry string, mod time.Time) (err error) {
	src, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".layer-*.zip")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := PackAt(tmp, src, entry, mod); err != nil {
		return fmt.Errorf("pack %s: %w", bin, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// Pack writes the layer: the directory entry extensions/ and the
// executable extensions/slinkerd, with Unix modes.
func Pack(w io.Writer, bin io.Reader, mod time.Time) error {
	return PackAt(w, bin, ExtensionPath, mod)
}

// PackAt writes a zip holding one executable (mode 0755) at entry, with a
// directory entry for each directory above it.
func PackAt(w io.Writer, bin io.Reader, entry string, mod time.Time) error {
	zw := zip.NewWriter(w)
	var dirs []string
	for d := path.Dir(entry); d != "." && d != "/"; d = path.Dir(d) {
		dirs = append([]string{d + "/"}, dirs...)
	}
	for _, d := range dirs {
		dir := &zip.FileHeader{Name: d, Method: zip.Store, Modified: mod}
		dir.SetMode(os.ModeDir | 0o755)
		if _, err := zw.CreateHeader(dir); err != nil {
			return err
		}
	}
	fh := &zip.FileHeader{Name: entry, Method: zip.Deflate, Modified: mod}
	fh.SetMode(0o755)
	f, err := zw.CreateHeader(fh)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, bin); err != nil {
		return err
	}
	return zw.Close()
}
