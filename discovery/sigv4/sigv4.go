// Package sigv4 signs requests to IAM-authenticated HTTP targets with AWS
// Signature Version 4: Lambda Function URLs with AWS_IAM auth (service
// "lambda"), API Gateway IAM routes ("execute-api") and VPC Lattice
// services with auth policies ("vpc-lattice-svcs"), or any other signing
// name. A service asks for it with SLINKERD_SVC_POLICY's sign key, e.g.
// "/svc/orders=sign:lambda"; the proxy then calls the service's Signer on
// every attempt (proxy.Policy.Signer), and never for other services.
//
// Credentials come from the AWS SDK's default chain (environment, shared
// files, web identity, ECS and Lambda container credentials, IMDS); in
// the Lambda layer's build (-tags slinkerd_noawsconfig), from the
// environment and the container credentials endpoint only, which is
// where Lambda puts them. They are loaded once on first use, and cached
// and refreshed by the SDK's provider.
//
// The payload is hashed or not, by service:
//
//   - vpc-lattice-svcs: never; x-amz-content-sha256: UNSIGNED-PAYLOAD, so
//     bodies stream (VPC Lattice does not sign payloads).
//   - lambda and execute-api: always; the body is read into the replay
//     buffer first, and a body longer than it is refused with 413
//     (Lambda does not accept UNSIGNED-PAYLOAD).
//   - any other name: hashed when the body fits the replay buffer,
//     UNSIGNED-PAYLOAD otherwise.
package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/slinkerd/slinkerd/core/clock"
	"github.com/slinkerd/slinkerd/core/retry"
	"github.com/slinkerd/slinkerd/internal/awsconf"
	"github.com/slinkerd/slinkerd/internal/proxy"
)

// UnsignedPayload is the payload hash of a request whose body is not
// covered by its signature.
const UnsignedPayload = "UNSIGNED-PAYLOAD"

// Headers the signature owns. A caller's own values are removed from a
// signed request (Authorization is replaced), so that nothing of the
// caller's, or of an earlier attempt, passes as part of the signature.
const (
	HeaderDate          = "X-Amz-Date"
	HeaderSecurityToken = "X-Amz-Security-Token"
	HeaderContentSHA256 = "X-Amz-Content-Sha256"
)

// PayloadMode says how a service's signature covers the body.
type PayloadMode int

// The payload modes.
const (
	// PayloadHashIfBuffered hashes a body that fits the replay buffer and
	// sends a longer one as UNSIGNED-PAYLOAD.
	PayloadHashIfBuffered PayloadMode = iota
	// PayloadHashRequired always hashes the body; a body longer than the
	// replay buffer is refused with 413.
	PayloadHashRequired
	// PayloadUnsigned never hashes the body: UNSIGNED-PAYLOAD, so it
	// streams.
	PayloadUnsigned
)

// ModeFor returns the payload mode of a signing name (see the package
// documentation).
func ModeFor(service string) PayloadMode {
	switch service {
	case "vpc-lattice-svcs":
		return PayloadUnsigned
	case "lambda", "execute-api":
		return PayloadHashRequired
	}
	return PayloadHashIfBuffered
}

// Config configures Signers. The zero value uses the default credential
// chain and AWS_REGION.
type Config struct {
	// Credentials provides credentials. If nil, the default AWS
	// configuration's are loaded on first use: the SDK's standard chain
	// (config.LoadDefaultConfig), or in the Lambda layer's build (-tags
	// slinkerd_noawsconfig) the environment's, as Lambda provides them.
	Credentials aws.CredentialsProvider
	// Region is the signing region of specs that name none. If empty,
	// AWS_REGION, then the default configuration's region.
	Region string
	// Clock gives the signing time. Defaults to the system clock.
	Clock clock.Clock
}

// Signers makes the Signer of each sign spec, sharing one credential
// provider. It is safe for concurrent use.
type Signers struct {
	cfg    Config
	clk    clock.Clock
	signer *v4.Signer

	once   sync.Once
	creds  aws.CredentialsProvider
	region string
	err    error
}

// New returns Signers for cfg. Nothing is loaded until a request is
// signed.
func New(cfg Config) *Signers {
	return &Signers{cfg: cfg, clk: clock.Or(cfg.Clock), signer: v4.NewSigner()}
}

// load resolves the credential provider and default region once.
func (s *Signers) load(ctx context.Context) (aws.CredentialsProvider, string, error) {
	s.once.Do(func() {
		s.creds, s.region = s.cfg.Credentials, s.cfg.Region
		if s.region == "" {
			s.region = os.Getenv("AWS_REGION")
		}
		if s.creds != nil && s.region != "" {
			return
		}
		ac, err := awsconf.Load(context.WithoutCancel(ctx))
		if err != nil {
			s.err = fmt.Errorf("sigv4: load the default AWS configuration: %w", err)
			return
		}
		if s.creds == nil {
			s.creds = ac.Credentials
		}
		if s.region == "" {
			s.region = ac.Region
		}
	})
	return s.creds, s.region, s.err
}

// Signer returns the proxy.Signer for spec, or nil when spec signs
// nothing.
func (s *Signers) Signer(spec retry.SignSpec) proxy.Signer {
	if spec.Service == "" {
		return nil
	}
	return &Signer{s: s, service: spec.Service, region: spec.Region, mode: ModeFor(spec.Service)}
}

// Signer signs the requests of one service.
type Signer struct {
	s       *Signers
	service string
	region  string // empty: the Signers' default
	mode    PayloadMode
}

// NeedsPayload reports whether the body is hashed (not for
// vpc-lattice-svcs).
func (g *Signer) NeedsPayload() bool { return g.mode != PayloadUnsigned }

// Sign removes the caller's Authorization and X-Amz-Date,
// X-Amz-Security-Token and X-Amz-Content-Sha256, then signs req for the
// service at the current time with the current credentials, setting
// Authorization, X-Amz-Date, X-Amz-Content-Sha256 and, for temporary
// credentials, X-Amz-Security-Token.
func (g *Signer) Sign(ctx context.Context, req *http.Request, payload []byte, whole bool) error {
	hash := UnsignedPayload
	switch {
	case g.mode == PayloadUnsigned:
	case whole:
		sum := sha256.Sum256(payload)
		hash = hex.EncodeToString(sum[:])
	case g.mode == PayloadHashRequired:
		return &proxy.Error{Status: http.StatusRequestEntityTooLarge,
			Msg: "request body longer than the replay buffer cannot be signed for " + g.service +
				", which needs the body's hash (raise replay-buffer for this service in SLINKERD_SVC_POLICY)"}
	}
	creds, region, err := g.s.load(ctx)
	if err != nil {
		return err
	}
	if g.region != "" {
		region = g.region
	}
	if region == "" {
		return errors.New("sigv4: no region: set AWS_REGION or name one, as in sign:" + g.service + ":us-east-1")
	}
	c, err := creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("sigv4: retrieve AWS credentials: %w", err)
	}
	h := req.Header
	delete(h, "Authorization")
	delete(h, HeaderDate)
	delete(h, HeaderSecurityToken)
	h[HeaderContentSHA256] = []string{hash}
	if err := g.s.signer.SignHTTP(ctx, c, req, hash, g.service, region, g.s.clk.Now()); err != nil {
		return fmt.Errorf("sigv4: sign for %s in %s: %w", g.service, region, err)
	}
	return nil
}

// String returns e.g. "sigv4 lambda:us-east-1 (payload hashed)".
func (g *Signer) String() string {
	mode := [...]string{"hashed if buffered", "hashed", "unsigned"}[g.mode]
	region := g.region
	if region == "" {
		region = "default region"
	}
	return "sigv4 " + g.service + ":" + region + " (payload " + mode + ")"
}

var _ proxy.Signer = (*Signer)(nil)
