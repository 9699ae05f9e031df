//go:build slinkerd_noawsconfig

package awsconf

import (
	"context"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// SharedConfig reports whether Load is the SDK's whole default chain
// (true), or FromEnvironment (false: built with -tags
// slinkerd_noawsconfig).
const SharedConfig = false

// Load returns the AWS configuration from the process environment
// (FromEnvironment): this build leaves the SDK's shared-config chain out.
func Load(context.Context) (aws.Config, error) {
	return FromEnvironment(os.Getenv)
}
