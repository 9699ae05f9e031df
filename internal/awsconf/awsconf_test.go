package awsconf_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/appconfigdata"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/internal/awsconf"
	"github.com/slinkerd/slinkerd/test/fakes/containercreds"
)

// vars are every variable a case may set; each case starts with all of
// them empty, so that the machine's own environment plays no part.
var vars = []string{
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY",
	"AWS_SECRET_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SERVICEDISCOVERY",
	"AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_APPCONFIGDATA",
	"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_PROFILE",
}

// resolved is what the parts of slinkerd that call AWS take from a
// configuration: the region, the credentials, and each client's endpoint.
type resolved struct {
	Region                               string
	AccessKeyID, SecretKey, SessionToken string
	Endpoints                            map[string]string
}

func resolve(t *testing.T, cfg aws.Config) resolved {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	creds, err := cfg.Credentials.Retrieve(ctx)
	require.NoError(t, err)
	return resolved{
		Region: cfg.Region, AccessKeyID: creds.AccessKeyID, SecretKey: creds.SecretAccessKey, SessionToken: creds.SessionToken,
		Endpoints: map[string]string{
			"servicediscovery": aws.ToString(servicediscovery.NewFromConfig(cfg).Options().BaseEndpoint),
			"lambda":           aws.ToString(lambda.NewFromConfig(cfg).Options().BaseEndpoint),
			"ssm":              aws.ToString(ssm.NewFromConfig(cfg).Options().BaseEndpoint),
			"appconfigdata":    aws.ToString(appconfigdata.NewFromConfig(cfg).Options().BaseEndpoint),
		},
	}
}

// TestFromEnvironmentAgreesWithTheSDKChain reads each environment with
// FromEnvironment and with the SDK's own config.LoadDefaultConfig (shared
// files empty, no instance metadata): on what Lambda provides, the two
// must resolve the same region, credentials and endpoints.
func TestFromEnvironmentAgreesWithTheSDKChain(t *testing.T) {
	creds, err := containercreds.Start("127.0.0.1:0", "Bearer snapstart-token", containercreds.Credentials{
		AccessKeyID: "ASIACONTAINER", SecretAccessKey: "container-secret", Token: "container-session"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = creds.Close() })
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("Bearer snapstart-token"), 0o600))

	lambdaEnv := map[string]string{ // as Lambda sets it for a function's processes
		"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1",
		"AWS_ACCESS_KEY_ID": "ASIAFUNCTION", "AWS_SECRET_ACCESS_KEY": "function-secret", "AWS_SESSION_TOKEN": "function-session",
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := map[string]map[string]string{
		"lambda execution role": lambdaEnv,
		"default region only":   with(lambdaEnv, "AWS_REGION", "", "AWS_DEFAULT_REGION", "ap-south-1"),
		"both regions":          with(lambdaEnv, "AWS_DEFAULT_REGION", "us-west-2"),
		"no session token":      with(lambdaEnv, "AWS_SESSION_TOKEN", ""),
		"older key names": with(lambdaEnv, "AWS_ACCESS_KEY_ID", "", "AWS_SECRET_ACCESS_KEY", "",
			"AWS_ACCESS_KEY", "AKIDOLD", "AWS_SECRET_KEY", "old-secret"),
		"snapstart container credentials": {"AWS_REGION": "us-east-1",
			"AWS_CONTAINER_CREDENTIALS_FULL_URI": creds.URL(), "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Bearer snapstart-token"},
		"container token file": {"AWS_REGION": "us-east-1",
			"AWS_CONTAINER_CREDENTIALS_FULL_URI": creds.URL(), "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile},
		"environment keys before the container": with(lambdaEnv, "AWS_CONTAINER_CREDENTIALS_FULL_URI", creds.URL()),
		"endpoint overrides": with(lambdaEnv, "AWS_ENDPOINT_URL", "http://127.0.0.1:4566",
			"AWS_ENDPOINT_URL_SERVICEDISCOVERY", "http://127.0.0.1:9001", "AWS_ENDPOINT_URL_LAMBDA", "http://localhost:9002"),
		"one service overridden": with(lambdaEnv, "AWS_ENDPOINT_URL_APPCONFIGDATA", "https://appconfig.example.test"),
		"overrides ignored": with(lambdaEnv, "AWS_ENDPOINT_URL", "http://127.0.0.1:4566",
			"AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:9003", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
	}
	emptyFile := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.WriteFile(emptyFile, nil, 0o600))
	for name, env := range cases {
		t.Run(name, func(t *testing.T) {
			for _, k := range vars {
				t.Setenv(k, env[k])
			}
			t.Setenv("AWS_CONFIG_FILE", emptyFile)
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", emptyFile)
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			sdk, err := config.LoadDefaultConfig(context.Background())
			require.NoError(t, err)
			ours, err := awsconf.FromEnvironment(func(k string) string { return env[k] })
			require.NoError(t, err)
			want, got := resolve(t, sdk), resolve(t, ours)
			assert.Equal(t, want, got)
			assert.NotEmpty(t, got.AccessKeyID, "the case resolves some credentials")
		})
	}
	assert.Positive(t, creds.Fetches(), "the container cases fetched from the endpoint")
}

// TestFromEnvironmentRefusesCredentialsEndpoints: an http credentials
// endpoint off the machine would carry the authorization token in clear
// text; the SDK's chain refuses those too.
func TestFromEnvironmentRefusesCredentialsEndpoints(t *testing.T) {
	for _, u := range []string{"http://10.0.0.7/creds", "http://169.254.169.254/latest", "ftp://127.0.0.1/creds", "http:///creds", "://bad"} {
		_, err := awsconf.FromEnvironment(func(k string) string {
			return map[string]string{"AWS_REGION": "us-east-1", "AWS_CONTAINER_CREDENTIALS_FULL_URI": u}[k]
		})
		require.Error(t, err, u)
		assert.Contains(t, err.Error(), "AWS_CONTAINER_CREDENTIALS_FULL_URI", u)
	}
	for _, u := range []string{"http://127.0.0.1:9001/creds", "http://[::1]:9001/creds", "http://localhost/creds",
		"http://169.254.170.2/v2/creds", "http://169.254.170.23/v1/credentials", "https://creds.example.test/"} {
		_, err := awsconf.FromEnvironment(func(k string) string {
			return map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": u}[k]
		})
		assert.NoError(t, err, u)
	}
}

// TestFromEnvironmentWithoutCredentials says what is missing and why,
// rather than failing later at signing.
func TestFromEnvironmentWithoutCredentials(t *testing.T) {
	for _, env := range []map[string]string{
		{"AWS_REGION": "us-east-1"},
		{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKID"}, // no secret
		{"AWS_REGION": "us-east-1", "AWS_PROFILE": "prod"},       // profiles are not read
	} {
		_, err := awsconf.FromEnvironment(func(k string) string { return env[k] })
		require.Error(t, err, env)
		assert.Contains(t, err.Error(), "AWS_ACCESS_KEY_ID")
		assert.Contains(t, err.Error(), "AWS_CONTAINER_CREDENTIALS_FULL_URI")
		assert.Contains(t, err.Error(), "slinkerd_noawsconfig")
		if env["AWS_PROFILE"] != "" {
			assert.Contains(t, err.Error(), "AWS_PROFILE=prod is set, but this build reads no profiles")
		}
	}
}

// TestContainerCredentialsWrongToken: the endpoint's refusal reaches the
// caller as an error, and no credentials are made up.
func TestContainerCredentialsWrongToken(t *testing.T) {
	creds, err := containercreds.Start("127.0.0.1:0", "Bearer right", containercreds.Credentials{AccessKeyID: "A", SecretAccessKey: "S"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = creds.Close() })
	cfg, err := awsconf.FromEnvironment(func(k string) string {
		return map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": creds.URL(), "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Bearer wrong"}[k]
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = cfg.Credentials.Retrieve(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "authorization token")
	assert.Zero(t, creds.Fetches())
}
