// Package lambdaext runs the slinkerd binary on AWS Lambda as an
// external extension (Run), /opt/extensions/slinkerd, from the layer that
// `make layer` builds. It opens its proxy listener, registers with the Lambda
// Extensions API (Lambda starts the runtime once every extension has
// registered), and then handles INVOKE and SHUTDOWN events. The function
// calls http://127.0.0.1:4140 with a Host header naming the service, in
// any language.
//
// A Go function can route in its own process instead, through the
// slinkerd package's Client and adapters/awslambda; that mode follows the
// same rules.
//
// Both follow from how classic Lambda runs code: the execution
// environment is frozen between invocations, so timers and background goroutines stop
// and pooled TCP connections may be dead when it thaws. Neither mode keeps
// a timer across events. Discovery is refreshed lazily, when an
// invocation starts and a name in use is older than its TTL; after a long
// gap the idle pooled connections are closed before the invocation runs;
// and a pooled connection found dead before the request was written to it
// is requeued by the proxy, whatever the method, like any request that
// provably reached no server.
// Metrics are written as CloudWatch embedded-metric-format lines to
// stdout, which Lambda sends to CloudWatch Logs.
//
// Lambda Managed Instances differ (see docs/lambda.md): one environment
// serves up to AWS_LAMBDA_MAX_CONCURRENCY invocations at once and is
// never frozen, and an extension may register for SHUTDOWN only. There
// (config.Config.LambdaManagedInstances) the extension registers for
// SHUTDOWN alone and writes its metrics from a timer, discovery refreshes
// in the background, no pooled connection is closed for a gap, and the
// pools are sized from AWS_LAMBDA_MAX_CONCURRENCY. The balancers and
// retry budgets are the process's, shared by all the invocations.
package lambdaext
