package idtoken_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/discovery/idtoken"
	fakemd "github.com/slinkerd/slinkerd/test/fakes/metadata"
)

// startMetadata starts the local fake metadata server on clk's time and
// points GCE_METADATA_HOST at it, as Cloud Run's would be. The returned
// func stops it and restores the environment.
func startMetadata(clk clock.Clock) (*fakemd.Server, func()) {
	md, err := fakemd.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	md.Email = "orders@my-project.iam.gserviceaccount.com"
	md.SetNow(clk.Now)
	old, had := os.LookupEnv("GCE_METADATA_HOST")
	_ = os.Setenv("GCE_METADATA_HOST", md.Addr())
	return md, func() {
		if had {
			_ = os.Setenv("GCE_METADATA_HOST", old)
		} else {
			_ = os.Unsetenv("GCE_METADATA_HOST")
		}
		_ = md.Close()
	}
}

// A Source caches one token per audience: any number of calls within its
// lifetime cost one fetch from the metadata server.
func ExampleNew() {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := clock.NewFake(t0)
	md, stop := startMetadata(clk)
	defer stop()

	s, err := idtoken.New(idtoken.Config{Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const aud = "https://users-xyz-ew.a.run.app"
	for range 3 {
		tok, err := s.Token(ctx, aud)
		if err != nil {
			panic(err)
		}
		c, _ := fakemd.ParseToken(tok)
		fmt.Println(c.Aud, c.Email)
	}
	fmt.Println("fetches:", md.Fetches(aud))

	for _, st := range s.State() {
		fmt.Println(st.Audience, st.Expires.Sub(t0), st.RefreshAt.Sub(t0), st.Fetches)
	}
	fmt.Println(s.TokenHeader())
	// Output:
	// https://users-xyz-ew.a.run.app orders@my-project.iam.gserviceaccount.com
	// https://users-xyz-ew.a.run.app orders@my-project.iam.gserviceaccount.com
	// https://users-xyz-ew.a.run.app orders@my-project.iam.gserviceaccount.com
	// fetches: 1
	// https://users-xyz-ew.a.run.app 1h0m0s 55m0s 1
	// Authorization
}

// Cloud Run also accepts the token in X-Serverless-Authorization, which
// leaves Authorization to the application.
func ExampleSource_TokenHeader() {
	s, err := idtoken.New(idtoken.Config{Header: "x-serverless-authorization"})
	if err != nil {
		panic(err)
	}
	fmt.Println(s.TokenHeader())

	_, err = idtoken.New(idtoken.Config{Header: "X-Token"})
	fmt.Println(err != nil)
	// Output:
	// X-Serverless-Authorization
	// true
}

func ExampleMetadataFetcher_FetchIDToken() {
	clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	_, stop := startMetadata(clk)
	defer stop()

	var f idtoken.Fetcher = idtoken.MetadataFetcher{} // Client nil: built on first use
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := f.FetchIDToken(ctx, "https://users-xyz-ew.a.run.app")
	if err != nil {
		panic(err)
	}
	c, _ := fakemd.ParseToken(tok)
	fmt.Println(c.Aud, c.Email, time.Duration(c.Exp-c.Iat)*time.Second)
	// Output:
	// https://users-xyz-ew.a.run.app orders@my-project.iam.gserviceaccount.com 1h0m0s
}
