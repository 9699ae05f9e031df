package promexport

import (
	"bufio"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/slinkerd/slinkerd/internal/telemetry"
)

// textContentType is the Content-Type of the text format as promhttp
// answers a scraper that does not ask for another format or escaping
// scheme: version 0.0.4, names escaped with underscores.
const textContentType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// typeLines are the end of each kind's # TYPE line.
var typeLines = [...]string{
	kindCounter:   " counter\n",
	kindGauge:     " gauge\n",
	kindSummary:   " summary\n",
	kindHistogram: " histogram\n",
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// writeText writes fams to w in the text format 0.0.4 with names escaped
// with underscores (textContentType), those in only if it is not nil. It
// writes what expfmt's text encoder writes for the same families, byte
// for byte (TestTextAsExpfmt): the lean build's exposition, which does not
// link expfmt and the protobuf runtime under it.
func writeText(w io.Writer, fams []*family, only map[string]bool) error {
	t := textWriter{w: bufio.NewWriter(w)}
	for _, f := range fams {
		if only != nil && !only[f.name] {
			continue
		}
		t.family(f)
	}
	return t.w.Flush()
}

// textWriter writes families to a buffer; the buffer keeps the first
// write error, which Flush returns.
type textWriter struct {
	w   *bufio.Writer
	num []byte
}

// family writes one family's HELP and TYPE lines and its samples.
func (t *textWriter) family(f *family) {
	name := escapeName(f.name)
	t.w.WriteString("# HELP ")
	t.w.WriteString(name)
	t.w.WriteByte(' ')
	_, _ = helpEscaper.WriteString(t.w, f.help)
	t.w.WriteString("\n# TYPE ")
	t.w.WriteString(name)
	t.w.WriteString(typeLines[f.kind])
	var counts []uint64
	for i := range f.metrics {
		m := &f.metrics[i]
		switch f.kind {
		case kindCounter, kindGauge:
			t.sample(name, "", m.labels, "", 0, m.value)
		case kindSummary:
			for _, q := range m.summary.quantiles {
				t.sample(name, "", m.labels, "quantile", q.q, q.value)
			}
			t.sample(name, "_sum", m.labels, "", 0, m.summary.sum)
			t.sample(name, "_count", m.labels, "", 0, float64(m.summary.count))
		case kindHistogram:
			le := telemetry.ClassicBuckets.Le
			if counts == nil {
				counts = make([]uint64, len(le))
			}
			classicCounts(m.hist, counts)
			for k, c := range counts {
				t.sample(name, "_bucket", m.labels, "le", le[k], float64(c))
			}
			s := m.hist
			if len(le) == 0 || !math.IsInf(le[len(le)-1], +1) {
				t.sample(name, "_bucket", m.labels, "le", math.Inf(+1), float64(s.Count))
			}
			t.sample(name, "_sum", m.labels, "", 0, s.Sum.Seconds())
			t.sample(name, "_count", m.labels, "", 0, float64(s.Count))
		}
	}
}

// sample writes one line: the name and suffix, the labels and the extra
// one (a summary's quantile or a bucket's le) if extra is set, the value.
func (t *textWriter) sample(name, suffix string, labels []labelPair, extra string, extraValue, v float64) {
	t.w.WriteString(name)
	t.w.WriteString(suffix)
	sep := byte('{')
	for _, l := range labels {
		t.w.WriteByte(sep)
		t.w.WriteString(escapeName(l.name))
		t.w.WriteString(`="`)
		_, _ = valueEscaper.WriteString(t.w, l.value)
		t.w.WriteByte('"')
		sep = ','
	}
	if extra != "" {
		t.w.WriteByte(sep)
		t.w.WriteString(extra)
		t.w.WriteString(`="`)
		t.float(extraValue)
		t.w.WriteByte('"')
		sep = ','
	}
	if sep == ',' {
		t.w.WriteByte('}')
	}
	t.w.WriteByte(' ')
	t.float(v)
	t.w.WriteByte('\n')
}

// float writes v as the text format does: Go's shortest representation,
// with NaN, +Inf and -Inf spelled so, and negative zero as 0.
func (t *textWriter) float(v float64) {
	switch {
	case v == 0:
		t.w.WriteByte('0')
	case math.IsNaN(v):
		t.w.WriteString("NaN")
	case math.IsInf(v, +1):
		t.w.WriteString("+Inf")
	case math.IsInf(v, -1):
		t.w.WriteString("-Inf")
	default:
		t.num = strconv.AppendFloat(t.num[:0], v, 'g', -1, 64)
		t.w.Write(t.num)
	}
}

// escapeName returns a metric or label name as the underscores escaping
// scheme writes it (model.EscapeName): unchanged if it is a classic name,
// else with every rune a classic name may not have there replaced by _.
func escapeName(name string) string {
	if name == "" || legacyMetricName(name) {
		return name
	}
	var b strings.Builder
	for i, r := range name {
		if legacyRune(r, i) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
