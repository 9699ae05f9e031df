package admin

import (
	"net/http"
	"time"
)

// DiscoveryPath is the route of the discovery state endpoint.
const DiscoveryPath = "GET /admin/discovery.json"

// DiscoverySection is one part of /admin/discovery.json: a namer (its
// prefix, e.g. /#/io.l5d.cloudmap) or another discovery-related cache
// (the ID token cache), with a function returning its current state as a
// JSON-encodable value. For namers the state lists each name with its
// endpoints, last refresh, last error and age.
type DiscoverySection struct {
	// Name identifies the section, e.g. "/$/inet" or "idTokens".
	Name string `json:"name"`
	// State returns the section's snapshot. It must be safe to call
	// concurrently and must not block on I/O.
	State func() any `json:"-"`
}

// discoveryOutput is the body of /admin/discovery.json.
type discoveryOutput struct {
	// Time is when the snapshot was taken.
	Time time.Time `json:"time"`
	// Sections are the namers and caches, in registration order.
	Sections []discoverySectionOutput `json:"sections"`
}

type discoverySectionOutput struct {
	Name  string `json:"name"`
	State any    `json:"state"`
}

// DiscoveryHandler serves /admin/discovery.json: the state of every
// section, in the order given. It reads the namers' caches only; it never
// triggers a discovery call.
func DiscoveryHandler(sections []DiscoverySection) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		out := discoveryOutput{Time: time.Now(), Sections: make([]discoverySectionOutput, 0, len(sections))}
		for _, s := range sections {
			out.Sections = append(out.Sections, discoverySectionOutput{Name: s.Name, State: s.State()})
		}
		writeJSON(w, http.StatusOK, out)
	})
}
