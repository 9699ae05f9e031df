package sigv4_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/discovery/sigv4"
	"github.com/slinkerd/slinkerd/test/fakes/sigv4origin"
)

// exampleCreds are static credentials for the examples; by default
// (Config.Credentials nil) Signers load the SDK's default chain instead.
var exampleCreds = aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}

// ModeFor tells how a signing name's signature covers the body.
func ExampleModeFor() {
	modes := map[sigv4.PayloadMode]string{
		sigv4.PayloadHashIfBuffered: "hashed if it fits the replay buffer",
		sigv4.PayloadHashRequired:   "always hashed",
		sigv4.PayloadUnsigned:       "never hashed (UNSIGNED-PAYLOAD)",
	}
	for _, svc := range []string{"lambda", "execute-api", "vpc-lattice-svcs", "es"} {
		fmt.Println(svc+":", modes[sigv4.ModeFor(svc)])
	}
	// Output:
	// lambda: always hashed
	// execute-api: always hashed
	// vpc-lattice-svcs: never hashed (UNSIGNED-PAYLOAD)
	// es: hashed if it fits the replay buffer
}

// Signers hands out one Signer per sign spec (SLINKERD_SVC_POLICY's
// sign:<service>[:<region>]), all sharing one credential provider; a spec
// with no service signs nothing.
func ExampleSigners_Signer() {
	signers := sigv4.New(sigv4.Config{
		Credentials: credentials.StaticCredentialsProvider{Value: exampleCreds},
		Region:      "us-east-1",
	})
	for _, spec := range []retry.SignSpec{
		{Service: "lambda"},
		{Service: "vpc-lattice-svcs", Region: "eu-west-1"},
		{},
	} {
		g := signers.Signer(spec)
		if g == nil {
			fmt.Println("no signer")
			continue
		}
		fmt.Println(g, "needs payload:", g.NeedsPayload())
	}
	// Output:
	// sigv4 lambda:default region (payload hashed) needs payload: true
	// sigv4 vpc-lattice-svcs:eu-west-1 (payload unsigned) needs payload: false
	// no signer
}

// Sign replaces whatever the caller put in Authorization and the X-Amz-*
// signature headers, and signs the request; here an origin that checks
// signatures as an IAM-authenticated AWS front end does accepts it.
func ExampleSigner_Sign() {
	origin := &sigv4origin.Origin{Creds: exampleCreds, Service: "lambda", Region: "us-east-1"}
	addr, err := origin.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer origin.Close()

	signers := sigv4.New(sigv4.Config{
		Credentials: credentials.StaticCredentialsProvider{Value: exampleCreds},
		Region:      "us-east-1",
		Clock:       clock.NewFake(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)),
	})
	signer := signers.Signer(retry.SignSpec{Service: "lambda"})

	body := []byte(`{"order":42}`)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/orders", bytes.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	req.Header.Set("Authorization", "Bearer from-the-caller")
	if err := signer.Sign(context.Background(), req, body, true); err != nil {
		fmt.Println(err)
		return
	}
	scope, _, _ := strings.Cut(req.Header.Get("Authorization"), ", SignedHeaders=")
	fmt.Println(scope)
	fmt.Println(sigv4.HeaderDate+":", req.Header.Get(sigv4.HeaderDate))
	fmt.Println(sigv4.HeaderContentSHA256+":", req.Header.Get(sigv4.HeaderContentSHA256))

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("origin:", resp.StatusCode, origin.Requests()[0].Err)
	// Output:
	// AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/us-east-1/lambda/aws4_request
	// X-Amz-Date: 20261203T100000Z
	// X-Amz-Content-Sha256: 54985dc3c12fada7a1b1db53cf23d3cbd4bcbe64e1cef95071e2073e2ceff4ed
	// origin: 200 <nil>
}
