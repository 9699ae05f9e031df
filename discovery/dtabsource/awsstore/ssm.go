package awsstore

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/slinkerd/slinkerd/discovery/dtabsource"
	"github.com/slinkerd/slinkerd/discovery/internal/awserr"
	"github.com/slinkerd/slinkerd/internal/awsconf"
)

// ssmAPI is the one Parameter Store call the source makes.
type ssmAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// ssmSource reads a parameter (decrypting a SecureString); its version
// is the parameter's version number.
type ssmSource struct {
	name string
	opts func(context.Context) (aws.Config, error)

	once   sync.Once
	client ssmAPI
	err    error
}

func newSSM(name string, opts dtabsource.Options) (*ssmSource, error) {
	if name == "" {
		return nil, fmt.Errorf("dtabsource: ssm source %q: want ssm:/parameter/name", name)
	}
	return &ssmSource{name: name, opts: opts.AWSConfig}, nil
}

func (s *ssmSource) String() string { return "ssm:" + s.name }

// api builds the client on first use, from the SDK's configuration chain
// (AWS_REGION, credentials, AWS_ENDPOINT_URL_SSM). Retries are the
// refresher's: the SDK's retryer is off.
func (s *ssmSource) api(ctx context.Context) (ssmAPI, error) {
	s.once.Do(func() {
		if s.client != nil {
			return
		}
		cfg, err := loadConfig(ctx, s.opts)
		if err != nil {
			s.err = fmt.Errorf("dtabsource: ssm: load AWS configuration: %w", err)
			return
		}
		s.client = ssm.NewFromConfig(cfg, func(o *ssm.Options) {
			o.Retryer = aws.NopRetryer{}
			o.HTTPClient = awsconf.SafeRequestBodies(o.HTTPClient)
		})
	})
	return s.client, s.err
}

func (s *ssmSource) Fetch(ctx context.Context, prev string) (dtabsource.Fetched, error) {
	api, err := s.api(ctx)
	if err != nil {
		return dtabsource.Fetched{}, err
	}
	out, err := api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(s.name), WithDecryption: aws.Bool(true)})
	if err != nil {
		if awserr.IsThrottle(err) {
			return dtabsource.Fetched{}, fmt.Errorf("dtabsource: ssm GetParameter %s: %w: %w", s.name, dtabsource.ErrThrottled, err)
		}
		return dtabsource.Fetched{}, fmt.Errorf("dtabsource: ssm GetParameter %s: %w", s.name, err)
	}
	if out.Parameter == nil {
		return dtabsource.Fetched{}, fmt.Errorf("dtabsource: ssm GetParameter %s: no parameter in the answer", s.name)
	}
	v := strconv.FormatInt(out.Parameter.Version, 10)
	if v == prev {
		return dtabsource.Fetched{Version: v}, nil
	}
	return dtabsource.Fetched{Dtab: aws.ToString(out.Parameter.Value), Version: v, Changed: true}, nil
}

var _ dtabsource.Source = (*ssmSource)(nil)
