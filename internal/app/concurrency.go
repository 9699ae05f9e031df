package app

// Defaults of the pools and limits that Concurrency sizes: what the
// proxy uses when nothing says how many requests run at once.
const (
	// defaultIdleConnsPerHost is proxy.TransportConfig's default.
	defaultIdleConnsPerHost = 256
	// defaultStreamsPerConn is proxy.ServerConfig's default.
	defaultStreamsPerConn = 250
)

// Concurrency is the pool sizes and limits of a process that serves up
// to a known number of requests at once: on Lambda Managed Instances,
// AWS_LAMBDA_MAX_CONCURRENCY invocations of one execution environment,
// each of which may call through the proxy.
type Concurrency struct {
	// IdleConnsPerHost is the keep-alive pool size per endpoint
	// (proxy.TransportConfig.MaxIdleConnsPerHost): with fewer, a burst
	// of that many requests to one endpoint opens connections that are
	// closed when it ends and dialled again by the next burst.
	IdleConnsPerHost int
	// StreamsPerConn caps the HTTP/2 streams of one caller connection
	// (proxy.ServerConfig.MaxConcurrentStreams): a runtime that sends all
	// its invocations' calls over one h2c connection must not queue them.
	StreamsPerConn int
}

// ConcurrencyFor returns the sizes for up to maxConcurrency requests at
// once: never below the defaults, which already serve classic Lambda
// (one invocation at a time) and containers; 0 or less means unknown
// and gives the defaults.
func ConcurrencyFor(maxConcurrency int) Concurrency {
	return Concurrency{
		IdleConnsPerHost: max(defaultIdleConnsPerHost, maxConcurrency),
		StreamsPerConn:   max(defaultStreamsPerConn, maxConcurrency),
	}
}
