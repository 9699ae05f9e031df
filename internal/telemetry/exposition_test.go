package telemetry_test

// /metrics in the tests is served by the Prometheus exposition, as in the
// binary.
import _ "github.com/slinkerd/slinkerd/internal/telemetry/promexport"
