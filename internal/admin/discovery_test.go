package admin_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/internal/admin"
)

func TestDiscoveryHandler(t *testing.T) {
	calls := 0
	h := admin.DiscoveryHandler([]admin.DiscoverySection{
		{Name: "/$/inet", State: func() any { calls++; return []map[string]any{{"host": "localhost"}} }},
		{Name: "/#/io.l5d.cloudmap", State: func() any { return []string{} }},
	})
	for _, tt := range []struct{ name string }{{"first"}, {"second"}} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/discovery.json", nil))
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			var out struct {
				Time     string `json:"time"`
				Sections []struct {
					Name  string          `json:"name"`
					State json.RawMessage `json:"state"`
				} `json:"sections"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
			assert.NotEmpty(t, out.Time)
			require.Len(t, out.Sections, 2)
			assert.Equal(t, "/$/inet", out.Sections[0].Name)
			assert.JSONEq(t, `[{"host":"localhost"}]`, string(out.Sections[0].State))
			assert.Equal(t, "/#/io.l5d.cloudmap", out.Sections[1].Name)
			assert.JSONEq(t, `[]`, string(out.Sections[1].State))
		})
	}
	assert.Equal(t, 2, calls, "state is read at every request")
}
