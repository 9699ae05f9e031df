// Package awsstore adds the AWS stores to SLINKERD_DTAB_SOURCE when
// imported: AWS Systems Manager Parameter Store (ssm:/parameter/name) and
// AWS AppConfig (appconfig:application/environment/profile), through the
// AWS SDK. The slinkerd binary imports it; a Go program using the library
// imports it only if it reads its dtab from one of them.
//
//	import _ "github.com/slinkerd/slinkerd/discovery/dtabsource/awsstore"
package awsstore

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/slinkerd/slinkerd/discovery/dtabsource"
	"github.com/slinkerd/slinkerd/internal/awsconf"
)

func init() {
	dtabsource.RegisterScheme("ssm", func(rest string, o dtabsource.Options) (dtabsource.Source, error) { return newSSM(rest, o) })
	dtabsource.RegisterScheme("appconfig", func(rest string, o dtabsource.Options) (dtabsource.Source, error) { return newAppConfig(rest, o) })
}

// loadConfig is the AWS configuration: Options.AWSConfig's when set, else
// the default one (AWS_REGION, credentials, AWS_ENDPOINT_URL_*): the SDK's
// standard chain, or in the Lambda layer's build (-tags
// slinkerd_noawsconfig) the environment's alone.
func loadConfig(ctx context.Context, f func(context.Context) (aws.Config, error)) (aws.Config, error) {
	if f != nil {
		return f(ctx)
	}
	return awsconf.Load(ctx)
}
