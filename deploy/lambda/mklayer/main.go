// Command mklayer packs the slinkerd binary as an AWS Lambda layer: a
// zip whose only file is extensions/slinkerd, mode 0755. Lambda extracts
// a layer into /opt, so the binary lands at /opt/extensions/slinkerd,
// where Lambda starts external extensions. `make layer` runs it; it uses
// Go's archive/zip, so no zip tool is needed.
//
// Usage:
//
//	go run ./deploy/lambda/mklayer -bin bin/layer-amd64/slinkerd -o bin/slinkerd-layer-amd64.zip
//
// The zip is reproducible: the same binary gives the same bytes (entries
// are dated SOURCE_DATE_EPOCH, or 2000-01-01 UTC when it is unset).
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// ExtensionPath is the binary's path inside the layer zip.
const ExtensionPath = "extensions/slinkerd"

func main() {
	bin := flag.String("bin", "", "the slinkerd binary (static, linux) to pack")
	out := flag.String("o", "slinkerd-layer.zip", "the layer zip to write")
	flag.Parse()
	if *bin == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: mklayer -bin PATH [-o ZIP]")
		os.Exit(2)
	}
	mod, err := modTime(os.Getenv("SOURCE_DATE_EPOCH"))
	if err == nil {
		err = writeLayer(*out, *bin, mod)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mklayer:", err)
		os.Exit(1)
	}
	fmt.Println(*out)
}

// modTime is the entries' modification time: SOURCE_DATE_EPOCH (seconds)
// when set, else 2000-01-01 UTC.
func modTime(epoch string) (time.Time, error) {
	if epoch == "" {
		return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), nil
	}
	s, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", epoch, err)
	}
	return time.Unix(s, 0).UTC(), nil
}

// writeLayer writes the zip at out, atomically: a failed run leaves no
// half-written zip behind.
func writeLayer(out, bin string, mod time.Time) (err error) {
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
	if err := pack(tmp, src, mod); err != nil {
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

// pack writes the layer: the directory entry extensions/ and the
// executable extensions/slinkerd, with Unix modes.
func pack(w io.Writer, bin io.Reader, mod time.Time) error {
	zw := zip.NewWriter(w)
	dir := &zip.FileHeader{Name: filepath.Dir(ExtensionPath) + "/", Method: zip.Store, Modified: mod}
	dir.SetMode(os.ModeDir | 0o755)
	if _, err := zw.CreateHeader(dir); err != nil {
		return err
	}
	fh := &zip.FileHeader{Name: ExtensionPath, Method: zip.Deflate, Modified: mod}
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
