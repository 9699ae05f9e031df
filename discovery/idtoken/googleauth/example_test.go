package googleauth_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/slinkerd/slinkerd/discovery/idtoken"
	"github.com/slinkerd/slinkerd/discovery/idtoken/googleauth"
	"github.com/slinkerd/slinkerd/test/fakes/iamcredentials"
	"github.com/slinkerd/slinkerd/test/fakes/metadata"
	"github.com/slinkerd/slinkerd/test/fakes/oauth2"
)

// setenv sets the variables and returns a func that restores them.
func setenv(vars map[string]string) (restore func()) {
	old := map[string]*string{}
	for k, v := range vars {
		if o, ok := os.LookupEnv(k); ok {
			old[k] = &o
		} else {
			old[k] = nil
		}
		_ = os.Setenv(k, v)
	}
	return func() {
		for k, o := range old {
			if o == nil {
				_ = os.Unsetenv(k)
			} else {
				_ = os.Setenv(k, *o)
			}
		}
	}
}

// On Google Cloud, tokens come from the metadata server (here a local
// fake, found through GCE_METADATA_HOST). A Fetcher is usually handed to
// idtoken.New, which caches its tokens.
func ExampleNew() {
	md, err := metadata.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer md.Close()
	md.Email = "orders@my-project.iam.gserviceaccount.com"
	defer setenv(map[string]string{"GCE_METADATA_HOST": md.Addr(), "GOOGLE_APPLICATION_CREDENTIALS": ""})()

	f, err := googleauth.New(googleauth.Config{})
	if err != nil {
		panic(err)
	}
	s, err := idtoken.New(idtoken.Config{Fetcher: f, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const aud = "https://users-xyz-ew.a.run.app"
	for range 2 {
		tok, err := s.Token(ctx, aud)
		if err != nil {
			panic(err)
		}
		c, _ := metadata.ParseToken(tok)
		fmt.Println(c.Aud, c.Email)
	}
	fmt.Println("fetches:", md.Fetches(aud))

	_, err = googleauth.New(googleauth.Config{ImpersonateServiceAccount: "orders"})
	fmt.Println(err != nil)
	// Output:
	// https://users-xyz-ew.a.run.app orders@my-project.iam.gserviceaccount.com
	// https://users-xyz-ew.a.run.app orders@my-project.iam.gserviceaccount.com
	// fetches: 1
	// true
}

// Off Google Cloud, a service account key file named by
// GOOGLE_APPLICATION_CREDENTIALS (here one for a local fake token
// endpoint) mints the tokens; with ImpersonateServiceAccount, that
// account asks the IAM Credentials API (a local fake through
// IAMCredentialsEndpoint) for another account's token.
func ExampleFetcher_FetchIDToken() {
	o, err := oauth2.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer o.Close()
	dir, err := os.MkdirTemp("", "googleauth-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	key, err := o.WriteKeyFile(dir)
	if err != nil {
		panic(err)
	}
	iam, err := iamcredentials.Start("127.0.0.1:0", o.ValidAccessToken)
	if err != nil {
		panic(err)
	}
	defer iam.Close()
	defer setenv(map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": key, "GCE_METADATA_HOST": ""})()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const aud = "https://users-xyz-ew.a.run.app"

	own, err := googleauth.New(googleauth.Config{})
	if err != nil {
		panic(err)
	}
	tok, err := own.FetchIDToken(ctx, aud)
	if err != nil {
		panic(err)
	}
	c, _ := metadata.ParseToken(tok)
	fmt.Println(c.Aud, c.Email == o.Email)

	const target = "orders-caller@other-project.iam.gserviceaccount.com"
	imp, err := googleauth.New(googleauth.Config{ImpersonateServiceAccount: target, IAMCredentialsEndpoint: iam.URL()})
	if err != nil {
		panic(err)
	}
	tok, err = imp.FetchIDToken(ctx, aud)
	if err != nil {
		panic(err)
	}
	c, _ = metadata.ParseToken(tok)
	fmt.Println(c.Aud, c.Email)
	fmt.Printf("%+v\n", iam.Calls())
	// Output:
	// https://users-xyz-ew.a.run.app true
	// https://users-xyz-ew.a.run.app orders-caller@other-project.iam.gserviceaccount.com
	// [{Account:orders-caller@other-project.iam.gserviceaccount.com Audience:https://users-xyz-ew.a.run.app IncludeEmail:true}]
}
