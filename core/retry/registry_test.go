package retry_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/retry"
)

// teapotRetryable treats 418 as a retryable failure, anything else as
// the default classifier does.
var teapotRetryable = retry.ClassifierFunc(func(r retry.Response) retry.Class {
	if r.Err == nil && r.Status == 418 {
		return retry.RetryableFailure
	}
	return retry.NonRetryable5XX.Classify(r)
})

func init() { retry.RegisterClassifier("test.teapot", teapotRetryable) }

func TestRegisteredClassifier(t *testing.T) {
	c, err := retry.Lookup("Test.Teapot") // case-insensitive, as the built-in names
	require.NoError(t, err)
	assert.Equal(t, retry.RetryableFailure, c.Classify(retry.Response{Method: "POST", Status: 418}))
	assert.Equal(t, retry.Success, c.Classify(retry.Response{Method: "POST", Status: 200}))
	assert.Contains(t, retry.ClassifierNames(), "test.teapot")

	// A service's policy can name it.
	entries, err := retry.ParsePolicies("/svc/pot=classifier:test.teapot")
	require.NoError(t, err)
	require.Len(t, entries, 1)

	_, err = retry.Lookup("test.coffee")
	require.ErrorIs(t, err, retry.ErrUnknownClassifier)
	assert.ErrorContains(t, err, "test.teapot", "the error lists what is allowed")

	assert.Panics(t, func() { retry.RegisterClassifier("test.teapot", teapotRetryable) }, "twice")
	assert.Panics(t, func() { retry.RegisterClassifier("retryableAll5XX", teapotRetryable) }, "built in")
	assert.Panics(t, func() { retry.RegisterClassifier("a;b", teapotRetryable) }, "separator")
}
