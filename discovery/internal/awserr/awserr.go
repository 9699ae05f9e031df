// Package awserr reads AWS API errors for the parts of slinkerd that call
// AWS through the SDK (the Cloud Map namer, the SSM and AppConfig dtab
// stores), so that they agree on what throttling is.
package awserr

import (
	"errors"

	"github.com/aws/smithy-go"
)

// IsThrottle reports whether err is an AWS API's refusal for the rate of
// calls, by the error codes AWS services use for it.
func IsThrottle(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "RequestLimitExceeded", "ThrottlingException", "Throttling", "TooManyRequestsException",
		"RequestThrottled", "SlowDown", "TooManyUpdates":
		return true
	}
	return false
}
