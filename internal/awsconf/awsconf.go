// Package awsconf loads the AWS configuration (region, credentials,
// endpoint overrides) for the parts of slinkerd that call AWS through the
// SDK: the Cloud Map namer, the Lambda transport, the SigV4 signer and the
// SSM and AppConfig dtab stores.
//
// Load is the SDK's own default chain (config.LoadDefaultConfig), except
// in builds with -tags slinkerd_noawsconfig, which the Lambda layer is:
// there Load is FromEnvironment, which reads only what Lambda gives a
// function's processes. The default chain links the shared-config,
// SSO, STS and sign-in clients, whose package initialisation alone costs
// about 0.9 ms of every cold start (GODEBUG=inittrace=1), for credential
// sources Lambda never uses.
//
// SafeRequestBodies wraps the service clients' HTTP client against a race
// between the SDK and net/http that could cut a response stream.
package awsconf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
)

// The environment variables FromEnvironment reads, as the AWS SDKs name
// them.
const (
	envRegion             = "AWS_REGION"
	envDefaultRegion      = "AWS_DEFAULT_REGION"
	envAccessKeyID        = "AWS_ACCESS_KEY_ID"
	envAccessKey          = "AWS_ACCESS_KEY" // older alias
	envSecretAccessKey    = "AWS_SECRET_ACCESS_KEY"
	envSecretKey          = "AWS_SECRET_KEY" // older alias
	envSessionToken       = "AWS_SESSION_TOKEN"
	envContainerFullURI   = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	envContainerRelURI    = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
	envContainerToken     = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
	envContainerTokenFile = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
	envEndpointURL        = "AWS_ENDPOINT_URL"
	envIgnoreEndpoints    = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
	envProfile            = "AWS_PROFILE" // not read: named in the error when set
)

// ecsCredentialsHost is where a relative container-credentials path is
// served (ECS, and the SDKs' convention).
const ecsCredentialsHost = "http://169.254.170.2"

// FromEnvironment builds an AWS configuration from the process
// environment alone, as Lambda provides it:
//
//   - region: AWS_REGION, else AWS_DEFAULT_REGION;
//   - credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
//     AWS_SESSION_TOKEN (a function's execution role, the usual case);
//     else the container credentials endpoint,
//     AWS_CONTAINER_CREDENTIALS_FULL_URI (loopback, the ECS or EKS agent
//     address, or https) or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, with
//     AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE): how SnapStart functions
//     get theirs;
//   - endpoints: AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>, unless
//     AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true.
//
// Shared config and credentials files, profiles, SSO, web identity and
// the EC2 instance metadata service are not read. With no credentials in
// the environment it returns an error that says so.
func FromEnvironment(getenv func(string) string) (aws.Config, error) {
	cfg := aws.Config{Region: getenv(envRegion)}
	if cfg.Region == "" {
		cfg.Region = getenv(envDefaultRegion)
	}
	if !strings.EqualFold(getenv(envIgnoreEndpoints), "true") {
		if u := getenv(envEndpointURL); u != "" {
			cfg.BaseEndpoint = aws.String(u)
		}
		cfg.ConfigSources = append(cfg.ConfigSources, serviceEndpoints{getenv: getenv})
	}
	creds, err := credentialsFromEnvironment(getenv)
	if err != nil {
		return aws.Config{}, err
	}
	cfg.Credentials = creds
	return cfg, nil
}

// credentialsFromEnvironment is FromEnvironment's credential provider.
func credentialsFromEnvironment(getenv func(string) string) (aws.CredentialsProvider, error) {
	id, secret := getenv(envAccessKeyID), getenv(envSecretAccessKey)
	if id == "" {
		id = getenv(envAccessKey)
	}
	if secret == "" {
		secret = getenv(envSecretKey)
	}
	if id != "" && secret != "" {
		return credentials.NewStaticCredentialsProvider(id, secret, getenv(envSessionToken)), nil
	}
	endpoint := getenv(envContainerFullURI)
	if rel := getenv(envContainerRelURI); rel != "" {
		endpoint = ecsCredentialsHost + rel
	} else if endpoint != "" {
		if err := checkCredentialsEndpoint(endpoint); err != nil {
			return nil, fmt.Errorf("awsconf: %s: %w", envContainerFullURI, err)
		}
	}
	if endpoint == "" {
		msg := "awsconf: no AWS credentials in the environment: neither " + envAccessKeyID + " and " +
			envSecretAccessKey + " nor " + envContainerFullURI + " or " + envContainerRelURI +
			" is set (this build reads credentials from the environment only, as Lambda provides them; it was built with -tags slinkerd_noawsconfig)"
		if p := getenv(envProfile); p != "" {
			msg += "; " + envProfile + "=" + p + " is set, but this build reads no profiles"
		}
		return nil, errors.New(msg)
	}
	token, tokenFile := getenv(envContainerToken), getenv(envContainerTokenFile)
	p := endpointcreds.New(endpoint, func(o *endpointcreds.Options) {
		o.AuthorizationToken = token
		if tokenFile != "" {
			o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return "", fmt.Errorf("read the container authorization token: %w", err)
				}
				return string(b), nil
			})
		}
	})
	// As the SDK's chain does: renew five minutes before expiry.
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 5 * time.Minute }), nil
}

// checkCredentialsEndpoint refuses a full container-credentials URI that
// would send the authorization token in clear text off the machine: http
// is allowed to loopback and the ECS and EKS agents' link-local addresses
// only, as the AWS SDKs allow. The host must be an IP address here; the
// SDKs' own chain also resolves names.
func checkCredentialsEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	host := u.Hostname()
	switch {
	case host == "":
		return fmt.Errorf("%q has no host", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme != "http":
		return fmt.Errorf("%q: the scheme must be http or https", raw)
	case host == "localhost":
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("%q: an http endpoint's host must be an IP address (loopback, or the ECS or EKS agent's)", raw)
	}
	if ip.IsLoopback() || ip.Equal(net.IPv4(169, 254, 170, 2)) || ip.Equal(net.IPv4(169, 254, 170, 23)) ||
		ip.Equal(net.ParseIP("fd00:ec2::23")) {
		return nil
	}
	return fmt.Errorf("%q: http is allowed only to loopback or the ECS or EKS agent's address", raw)
}

// serviceEndpoints gives each service client its AWS_ENDPOINT_URL_<SERVICE>
// override. The SDK's service clients ask their configuration sources for
// it through this method (the interface is internal to the SDK, so it is
// matched by method, as the SDK's own EnvConfig is).
type serviceEndpoints struct{ getenv func(string) string }

// GetServiceBaseEndpoint returns AWS_ENDPOINT_URL_<SDK ID>, the ID upper-cased
// with spaces as underscores (ServiceDiscovery: SERVICEDISCOVERY;
// AppConfigData: APPCONFIGDATA).
func (s serviceEndpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	v := s.getenv(envEndpointURL + "_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_"))
	return v, v != "", nil
}
