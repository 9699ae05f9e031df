//go:build !slinkerd_noawsconfig

package awsconf

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// SharedConfig reports whether Load is the SDK's whole default chain
// (true), or FromEnvironment (false: built with -tags
// slinkerd_noawsconfig).
const SharedConfig = true

// Load returns the AWS configuration from the SDK's default chain,
// config.LoadDefaultConfig: the environment, the shared config and
// credentials files and their profiles, SSO, web identity, the container
// and EC2 instance credentials.
func Load(ctx context.Context) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx)
}
