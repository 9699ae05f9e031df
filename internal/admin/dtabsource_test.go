package admin_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/internal/admin"
	"github.com/slinkerd/slinkerd/internal/bind"
)

// The dtab source's version shows in /config.json and /delegator.json.
func TestDtabSourceShown(t *testing.T) {
	in, err := bind.New(bind.Config{Dtab: name.MustParseDtab("/svc=>/$/inet/127.0.0.1/1")})
	require.NoError(t, err)
	tests := []struct {
		name, config string
	}{
		{name: "after other keys", config: `{"version": "v1", "SLINKERD_DTAB": ""}` + "\n"},
		{name: "empty object", config: "{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := admin.Listen(admin.Config{
				Addr: "127.0.0.1:0", Interpreter: in,
				ConfigJSON: func() ([]byte, error) { return []byte(tt.config), nil },
				DtabSource: func() any { return map[string]string{"source": "ssm:/d", "version": "7"} },
			})
			require.NoError(t, err)
			go func() { _ = s.Serve() }()
			defer s.Shutdown(t.Context())
			for _, path := range []string{"/config.json", "/delegator.json?path=/svc/x"} {
				resp, err := http.Get("http://" + s.Addr().String() + path)
				require.NoError(t, err)
				var out map[string]any
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&out), path)
				resp.Body.Close()
				require.Equal(t, map[string]any{"source": "ssm:/d", "version": "7"}, out["dtabSource"], path)
			}
		})
	}
}
