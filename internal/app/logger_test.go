package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slinkerd/slinkerd/core/config"
)

// lines parses every line of buf as a JSON object, as Lambda's log-level
// filtering and Cloud Logging do.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(buf)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "not a JSON line: %s", sc.Text())
		out = append(out, m)
	}
	return out
}

func logAll(l *slog.Logger) {
	l.Debug("d")
	l.Info("i")
	l.Warn("w")
	l.Error("e")
}

func TestLoggerLambdaFormat(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		mode       config.Mode
		wantLevels []string // of the lines written, in order; nil: text
	}{
		{"lambda mode, defaults", nil, config.ModeLambda, []string{"INFO", "WARN", "ERROR"}},
		{"function name alone means Lambda", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "f"}, config.ModeContainer, []string{"INFO", "WARN", "ERROR"}},
		{"AWS_LAMBDA_LOG_LEVEL wins over SLINKERD_LOG_LEVEL",
			map[string]string{"AWS_LAMBDA_LOG_LEVEL": "WARN", "SLINKERD_LOG_LEVEL": "debug"}, config.ModeLambda, []string{"WARN", "ERROR"}},
		{"AWS_LAMBDA_LOG_LEVEL DEBUG", map[string]string{"AWS_LAMBDA_LOG_LEVEL": "DEBUG"}, config.ModeLambda, []string{"DEBUG", "INFO", "WARN", "ERROR"}},
		{"AWS_LAMBDA_LOG_LEVEL TRACE", map[string]string{"AWS_LAMBDA_LOG_LEVEL": "TRACE"}, config.ModeLambda, []string{"DEBUG", "INFO", "WARN", "ERROR"}},
		{"AWS_LAMBDA_LOG_LEVEL FATAL", map[string]string{"AWS_LAMBDA_LOG_LEVEL": "FATAL"}, config.ModeLambda, []string{}},
		{"SLINKERD_LOG_LEVEL when Lambda sets none", map[string]string{"SLINKERD_LOG_LEVEL": "error"}, config.ModeLambda, []string{"ERROR"}},
		{"AWS_LAMBDA_LOG_FORMAT Text", map[string]string{"AWS_LAMBDA_LOG_FORMAT": "Text"}, config.ModeLambda, nil},
		{"SLINKERD_LOG_FORMAT json wins over Text", map[string]string{"AWS_LAMBDA_LOG_FORMAT": "Text", "SLINKERD_LOG_FORMAT": "json"}, config.ModeLambda, []string{"INFO", "WARN", "ERROR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(tt.env)
			require.NoError(t, err)
			var buf bytes.Buffer
			logAll(newLogger(&buf, cfg, tt.mode))
			if tt.wantLevels == nil {
				assert.Contains(t, buf.String(), "level=WARN msg=w")
				return
			}
			got := lines(t, &buf)
			levels := []string{}
			for _, m := range got {
				levels = append(levels, m["level"].(string))
				assert.NotContains(t, m, "severity")
				assert.Contains(t, m, "message")
				ts, ok := m["timestamp"].(string)
				require.True(t, ok, "timestamp: %v", m)
				_, err := time.Parse(time.RFC3339Nano, ts)
				assert.NoError(t, err, "RFC 3339")
			}
			assert.Equal(t, tt.wantLevels, levels)
		})
	}
}

func TestLoggerCloudRunKeepsSeverity(t *testing.T) {
	cfg, err := config.Load(map[string]string{"AWS_LAMBDA_LOG_LEVEL": "ERROR"}) // not Lambda: ignored
	require.NoError(t, err)
	var buf bytes.Buffer
	logAll(newLogger(&buf, cfg, config.ModeCloudRun))
	got := lines(t, &buf)
	require.Len(t, got, 3)
	assert.Equal(t, "WARNING", got[1]["severity"])
	assert.Equal(t, "w", got[1]["message"])
	assert.NotContains(t, got[1], "level")
}
