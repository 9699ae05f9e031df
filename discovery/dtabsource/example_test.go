package dtabsource_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/slinkerd/slinkerd/discovery/dtabsource"
)

// memStore is an in-process store of versioned dtabs by key, standing
// for a company's own configuration service.
type memStore struct {
	mu    sync.Mutex
	dtabs map[string]memEntry
}

type memEntry struct{ dtab, version string }

func (s *memStore) put(key, version, dtab string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dtabs[key] = memEntry{dtab: dtab, version: version}
}

var store = &memStore{dtabs: map[string]memEntry{}}

// memSource is the Source of SLINKERD_DTAB_SOURCE=mem:<key>.
type memSource struct{ key string }

func (m memSource) String() string { return "mem:" + m.key }

// Fetch returns the key's dtab, or Changed false when the store's
// version is still prevVersion.
func (m memSource) Fetch(_ context.Context, prevVersion string) (dtabsource.Fetched, error) {
	store.mu.Lock()
	defer store.mu.Unlock()
	e, ok := store.dtabs[m.key]
	if !ok {
		return dtabsource.Fetched{}, fmt.Errorf("mem: no dtab %q", m.key)
	}
	if e.version == prevVersion {
		return dtabsource.Fetched{Version: e.version}, nil
	}
	return dtabsource.Fetched{Dtab: e.dtab, Version: e.version, Changed: true}, nil
}

// A store registers its scheme from an init function, as
// discovery/dtabsource/awsstore does for ssm: and appconfig:.
func init() {
	dtabsource.RegisterScheme("mem", func(rest string, _ dtabsource.Options) (dtabsource.Source, error) {
		return memSource{key: rest}, nil
	})
}

// RegisterScheme adds a kind of store to SLINKERD_DTAB_SOURCE. Parse
// builds its Source from the spec; slinkerd's refresher then calls Fetch
// with the version it holds.
func ExampleRegisterScheme() {
	store.put("routing", "v1", "/svc/users=>/$/inet/127.0.0.1/8080")

	src, err := dtabsource.Parse("mem:routing", dtabsource.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(src)

	ctx := context.Background()
	f, err := src.Fetch(ctx, "")
	fmt.Printf("%q version %s changed %v %v\n", f.Dtab, f.Version, f.Changed, err)
	f, err = src.Fetch(ctx, f.Version)
	fmt.Printf("version %s changed %v %v\n", f.Version, f.Changed, err)

	store.put("routing", "v2", "/svc/users=>/$/inet/127.0.0.1/8081")
	f, err = src.Fetch(ctx, f.Version)
	fmt.Printf("%q version %s changed %v %v\n", f.Dtab, f.Version, f.Changed, err)
	// Output:
	// mem:routing
	// "/svc/users=>/$/inet/127.0.0.1/8080" version v1 changed true <nil>
	// version v1 changed false <nil>
	// "/svc/users=>/$/inet/127.0.0.1/8081" version v2 changed true <nil>
}
