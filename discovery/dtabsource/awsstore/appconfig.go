package awsstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appconfigdata"
	"github.com/aws/aws-sdk-go-v2/service/appconfigdata/types"

	"github.com/slinkerd/slinkerd/discovery/dtabsource"
	"github.com/slinkerd/slinkerd/discovery/internal/awserr"
	"github.com/slinkerd/slinkerd/internal/awsconf"
)

// appConfigAPI is the two AppConfig Data calls the source makes.
type appConfigAPI interface {
	StartConfigurationSession(ctx context.Context, in *appconfigdata.StartConfigurationSessionInput, opts ...func(*appconfigdata.Options)) (*appconfigdata.StartConfigurationSessionOutput, error)
	GetLatestConfiguration(ctx context.Context, in *appconfigdata.GetLatestConfigurationInput, opts ...func(*appconfigdata.Options)) (*appconfigdata.GetLatestConfigurationOutput, error)
}

// appConfigSource reads an AppConfig configuration through the AppConfig
// Data API (aws-sdk-go-v2 service/appconfigdata): StartConfigurationSession
// once, then GetLatestConfiguration with the token each answer hands back,
// no sooner than the service's NextPollIntervalInSeconds. An empty answer
// means unchanged. Its version is the answer's VersionLabel, or a hash of
// the content without one.
type appConfigSource struct {
	app, env, profile string
	opts              func(context.Context) (aws.Config, error)

	once   sync.Once
	client appConfigAPI
	err    error

	token string // next configuration token; "" starts a session
}

func newAppConfig(spec string, opts dtabsource.Options) (*appConfigSource, error) {
	parts := strings.Split(spec, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return nil, fmt.Errorf("dtabsource: appconfig source %q: want appconfig:application/environment/profile", spec)
	}
	return &appConfigSource{app: parts[0], env: parts[1], profile: parts[2], opts: opts.AWSConfig}, nil
}

func (s *appConfigSource) String() string {
	return "appconfig:" + s.app + "/" + s.env + "/" + s.profile
}

// api builds the client on first use, from the SDK's configuration chain
// (AWS_REGION, credentials, AWS_ENDPOINT_URL_APPCONFIGDATA). Retries are
// the refresher's: the SDK's retryer is off.
func (s *appConfigSource) api(ctx context.Context) (appConfigAPI, error) {
	s.once.Do(func() {
		if s.client != nil {
			return
		}
		cfg, err := loadConfig(ctx, s.opts)
		if err != nil {
			s.err = fmt.Errorf("dtabsource: appconfig: load AWS configuration: %w", err)
			return
		}
		s.client = appconfigdata.NewFromConfig(cfg, func(o *appconfigdata.Options) {
			o.Retryer = aws.NopRetryer{}
			o.HTTPClient = awsconf.SafeRequestBodies(o.HTTPClient)
		})
	})
	return s.client, s.err
}

// Fetch polls the configuration once (starting a session when it has no
// token).
func (s *appConfigSource) Fetch(ctx context.Context, prev string) (dtabsource.Fetched, error) {
	api, err := s.api(ctx)
	if err != nil {
		return dtabsource.Fetched{}, err
	}
	if s.token == "" {
		out, err := api.StartConfigurationSession(ctx, &appconfigdata.StartConfigurationSessionInput{
			ApplicationIdentifier:          aws.String(s.app),
			EnvironmentIdentifier:          aws.String(s.env),
			ConfigurationProfileIdentifier: aws.String(s.profile),
		})
		if err != nil {
			return dtabsource.Fetched{}, s.fail("StartConfigurationSession", err)
		}
		if out.InitialConfigurationToken == nil || *out.InitialConfigurationToken == "" {
			return dtabsource.Fetched{}, fmt.Errorf("dtabsource: appconfig StartConfigurationSession %s: no token in the answer", s)
		}
		s.token = *out.InitialConfigurationToken
	}
	out, err := api.GetLatestConfiguration(ctx, &appconfigdata.GetLatestConfigurationInput{ConfigurationToken: aws.String(s.token)})
	if err != nil {
		var bad *types.BadRequestException
		if errors.As(err, &bad) {
			s.token = "" // expired or spent: start a new session next time
		}
		return dtabsource.Fetched{}, s.fail("GetLatestConfiguration", err)
	}
	s.token = aws.ToString(out.NextPollConfigurationToken)
	f := dtabsource.Fetched{Version: prev}
	if out.NextPollIntervalInSeconds > 0 {
		f.NextPoll = time.Duration(out.NextPollIntervalInSeconds) * time.Second
	}
	b := out.Configuration
	if len(b) == 0 {
		return f, nil
	}
	if len(b) > dtabsource.MaxDtabBytes {
		return dtabsource.Fetched{}, fmt.Errorf("dtabsource: appconfig %s: configuration larger than %d bytes", s, dtabsource.MaxDtabBytes)
	}
	text := string(b)
	if strings.HasPrefix(aws.ToString(out.ContentType), "application/json") {
		var doc struct {
			Dtab *string `json:"dtab"`
		}
		if err := json.Unmarshal(b, &doc); err != nil || doc.Dtab == nil {
			return dtabsource.Fetched{}, fmt.Errorf("dtabsource: appconfig %s: a JSON configuration must be {\"dtab\": \"…\"}", s)
		}
		text = *doc.Dtab
	}
	v := aws.ToString(out.VersionLabel)
	if v == "" {
		sum := sha256.Sum256(b)
		v = "sha256:" + hex.EncodeToString(sum[:6])
	}
	f.Version = v
	if v == prev {
		return f, nil
	}
	f.Dtab, f.Changed = text, true
	return f, nil
}

// fail wraps a call's error, marking throttling for the refresher.
func (s *appConfigSource) fail(call string, err error) error {
	if awserr.IsThrottle(err) {
		return fmt.Errorf("dtabsource: appconfig %s %s: %w: %w", call, s, dtabsource.ErrThrottled, err)
	}
	return fmt.Errorf("dtabsource: appconfig %s %s: %w", call, s, err)
}

var _ dtabsource.Source = (*appConfigSource)(nil)
