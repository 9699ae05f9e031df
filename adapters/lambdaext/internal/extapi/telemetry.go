package extapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// The Lambda Telemetry API, which shares its host with the Extensions
// API: an extension subscribes during init with
// PUT /2022-07-01/telemetry, and Lambda then POSTs batches of events (a
// JSON array) to a listener of the extension's. slinkerd subscribes to
// the platform events for one of them: platform.runtimeDone, which says
// that the runtime has finished an invocation, so that the invocation's
// metrics can be written while it still lasts (the invocation ends when
// every extension has asked for its next event).
const (
	telemetryAPIVersion = "2022-07-01"
	// telemetrySchemaVersion is the newest schema that every kind of
	// function accepts for the events slinkerd reads.
	telemetrySchemaVersion = "2022-12-13"
	// MinBufferingMs is the shortest buffering time Lambda allows
	// (TelemetryBuffering.TimeoutMs).
	MinBufferingMs = 25
)

// ErrTelemetryNotSupported is returned by SubscribeTelemetry when the
// API answers that it has no Telemetry API, as the AWS Lambda Runtime
// Interface Emulator does (202 with errorType Telemetry.NotSupported).
var ErrTelemetryNotSupported = errors.New("lambda: the Telemetry API is not supported here")

// TelemetryBuffering is the buffering of a Telemetry API subscription.
// Lambda sends a batch when any limit is reached.
type TelemetryBuffering struct {
	// MaxItems is the most events in a batch, 1000 to 10000.
	MaxItems int `json:"maxItems"`
	// MaxBytes is the most bytes in a batch, 262144 to 1048576.
	MaxBytes int `json:"maxBytes"`
	// TimeoutMs is how long Lambda buffers, in milliseconds, 25 to 30000.
	TimeoutMs int `json:"timeoutMs"`
}

type telemetryDestination struct {
	Protocol string `json:"protocol"`
	URI      string `json:"URI"`
}

type telemetrySubscription struct {
	SchemaVersion string               `json:"schemaVersion"`
	Destination   telemetryDestination `json:"destination"`
	Types         []string             `json:"types"`
	Buffering     TelemetryBuffering   `json:"buffering"`
}

// SubscribeTelemetry subscribes the registered extension to the
// Telemetry API event types (platform, function, extension), delivered
// by HTTP POST to uri. Lambda accepts subscriptions during init only,
// before the first event/next.
func (c *Client) SubscribeTelemetry(ctx context.Context, uri string, types []string, b TelemetryBuffering) error {
	body, err := json.Marshal(telemetrySubscription{
		SchemaVersion: telemetrySchemaVersion,
		Destination:   telemetryDestination{Protocol: "HTTP", URI: uri},
		Types:         types,
		Buffering:     b,
	})
	if err != nil {
		return fmt.Errorf("lambda: telemetry subscribe: %w", err)
	}
	url := "http://" + c.host + "/" + telemetryAPIVersion + "/telemetry"
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("lambda: telemetry subscribe: %w", err)
	}
	req.Header.Set(hdrExtensionIdentifier, c.id)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.do(req, "telemetry subscribe")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b2, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	// Lambda answers 200 "OK"; the emulator's stub answers 202 with an
	// error body, which is a refusal.
	var apiErr struct {
		ErrorType string `json:"errorType"`
	}
	if json.Unmarshal(b2, &apiErr) == nil && apiErr.ErrorType != "" {
		if apiErr.ErrorType == "Telemetry.NotSupported" {
			return fmt.Errorf("%w (status %d: %s)", ErrTelemetryNotSupported, resp.StatusCode, bytes.TrimSpace(b2))
		}
		return &APIError{Op: "telemetry subscribe", Status: resp.StatusCode, Body: string(bytes.TrimSpace(b2))}
	}
	return nil
}
