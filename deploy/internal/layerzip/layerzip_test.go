package layerzip

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPack(t *testing.T) {
	mod := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	var a, b bytes.Buffer
	require.NoError(t, Pack(&a, strings.NewReader("\x7fELF binary"), mod))
	require.NoError(t, Pack(&b, strings.NewReader("\x7fELF binary"), mod))
	assert.Equal(t, a.Bytes(), b.Bytes(), "the same binary gives the same zip")

	zr, err := zip.NewReader(bytes.NewReader(a.Bytes()), int64(a.Len()))
	require.NoError(t, err)
	require.Len(t, zr.File, 2)
	assert.Equal(t, "extensions/", zr.File[0].Name)
	assert.True(t, zr.File[0].Mode().IsDir())
	assert.Equal(t, ExtensionPath, zr.File[1].Name)
	assert.Equal(t, os.FileMode(0o755), zr.File[1].Mode())
	assert.True(t, zr.File[1].Modified.Equal(mod))
	rc, err := zr.File[1].Open()
	require.NoError(t, err)
	defer rc.Close()
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	assert.Equal(t, "\x7fELF binary", string(got))
}

func TestModTime(t *testing.T) {
	tests := []struct {
		name    string
		epoch   string
		want    time.Time
		wantErr bool
	}{
		{name: "unset", want: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "SOURCE_DATE_EPOCH", epoch: "1700000000", want: time.Unix(1700000000, 0).UTC()},
		{name: "not a number", epoch: "yesterday", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ModTime(tt.epoch)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.True(t, tt.want.Equal(got), "%v", got)
		})
	}
}

func TestPackAtRoot(t *testing.T) {
	mod := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	var a bytes.Buffer
	require.NoError(t, PackAt(&a, strings.NewReader("\x7fELF fn"), "bootstrap", mod))
	zr, err := zip.NewReader(bytes.NewReader(a.Bytes()), int64(a.Len()))
	require.NoError(t, err)
	require.Len(t, zr.File, 1, "a function package holds bootstrap alone")
	assert.Equal(t, "bootstrap", zr.File[0].Name)
	assert.Equal(t, os.FileMode(0o755), zr.File[0].Mode())
}
