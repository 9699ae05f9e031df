package lambdafn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/slinkerd/slinkerd/core/name"
	"github.com/slinkerd/slinkerd/discovery/lambdafn"
	"github.com/slinkerd/slinkerd/test/fakes/lambdastream"
)

// Address is the endpoint the namers bind a function to: a reserved host
// that names the function (and qualifier), which Transport reads back.
func ExampleAddress() {
	for _, a := range []name.Address{
		lambdafn.Address("orders", "", false),
		lambdafn.Address("orders", "live", false),
		lambdafn.Address("orders", "live", true),
	} {
		fmt.Println(a.HostPort(), a.Meta)
	}
	// Output:
	// orders.lambda.invalid:443 map[transport:lambda]
	// orders.live.lambda.invalid:443 map[transport:lambda]
	// orders.live.lambda-stream.invalid:443 map[transport:lambda]
}

// Lookup binds <function>[/<qualifier>] at once, with no call to AWS;
// the rest of the path is the residual.
func ExampleNamer_Lookup() {
	ctx := context.Background()
	for _, n := range []lambdafn.Namer{{}, {Stream: true}} {
		tree, err := n.Lookup(ctx, name.MustParsePath("/orders/live/v1/list"))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(tree.Value.ID, "residual", tree.Value.Residual, tree.Value.Addr.Peek().Addresses[0].HostPort())
	}

	_, err := lambdafn.Namer{}.Lookup(ctx, name.MustParsePath("/orders.v2"))
	fmt.Println(err)
	// Output:
	// /#/io.l5d.lambda/orders/live residual /v1/list orders.live.lambda.invalid:443
	// /#/io.l5d.lambda.stream/orders/live residual /v1/list orders.live.lambda-stream.invalid:443
	// lambdafn: /#/io.l5d.lambda/orders.v2: "orders.v2" is not a function name (1-64 of a-z A-Z 0-9 - _)
}

// exampleTransport returns a Transport whose Lambda client (NewClient)
// calls the local Lambda API at endpoint, with static credentials. In
// production, leave Config.Client nil: the Transport loads the default
// AWS configuration (AWS_REGION, the role's credentials,
// AWS_ENDPOINT_URL_LAMBDA).
func exampleTransport(endpoint string) (*lambdafn.Transport, error) {
	client := lambdafn.NewClient(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(endpoint),
	})
	return lambdafn.New(lambdafn.Config{Client: client})
}

// A Transport turns a request to a function's Address into a Function URL
// event (payload format 2.0), invokes the function with the Lambda client
// (here built by NewClient, against a local Lambda API) and turns its
// answer into the response. The proxy does this for every endpoint whose
// Meta["transport"] is TransportKind.
func ExampleNew() {
	lam, err := lambdastream.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lam.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := exampleTransport(lam.URL())
	if err != nil {
		fmt.Println(err)
		return
	}

	// The function: it answers 201 with the path it was called with.
	go func() {
		inv, err := lam.Next(ctx)
		if err != nil {
			return
		}
		var ev struct {
			RawPath string `json:"rawPath"`
			Body    string `json:"body"`
		}
		_ = json.Unmarshal(inv.Event, &ev)
		answer, _ := json.Marshal(map[string]any{
			"statusCode": 201,
			"headers":    map[string]string{"content-type": "text/plain"},
			"body":       fmt.Sprintf("%s:%s called with %s %s", inv.Function, inv.Qualifier, ev.RawPath, ev.Body),
		})
		inv.Reply(http.StatusOK, nil, answer)
	}()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		"http://"+lambdafn.Address("orders", "live", false).HostPort()+"/v1/orders", strings.NewReader(`{"n":1}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	// A text body travels as it is; any other is base64-encoded in the
	// event (isBase64Encoded), as Function URLs do.
	req.Header.Set("Content-Type", "application/json")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	fmt.Println(string(body))
	// Output:
	// 201 text/plain
	// orders:live called with /v1/orders {"n":1}
}

// For an endpoint of the .stream namer, RoundTrip calls
// InvokeWithResponseStream: the function's prelude (status, headers), then
// eight NUL bytes, then the body, which reaches the caller chunk by chunk.
func ExampleTransport_RoundTrip() {
	lam, err := lambdastream.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lam.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := exampleTransport(lam.URL())
	if err != nil {
		fmt.Println(err)
		return
	}

	go func() {
		inv, err := lam.Next(ctx)
		if err != nil {
			return
		}
		_ = inv.Chunk([]byte(`{"statusCode":200,"headers":{"Content-Type":"text/event-stream"}}`))
		_ = inv.Chunk([]byte("\x00\x00\x00\x00\x00\x00\x00\x00data: one\n"))
		_ = inv.Chunk([]byte("data: two\n"))
		_ = inv.Complete("", "")
	}()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://"+lambdafn.Address("ticker", "", true).HostPort()+"/events", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	fmt.Print(string(body))
	// Output:
	// 200 text/event-stream
	// data: one
	// data: two
}
