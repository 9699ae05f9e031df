package telemetry

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// EMFNamespace is the default CloudWatch namespace of the EMF lines.
const EMFNamespace = "slinkerd"

// EMF limits from the CloudWatch embedded metric format specification.
const (
	// EMFMaxDimensions is how many dimension keys one dimension set may
	// hold.
	EMFMaxDimensions = 30
	// EMFMaxValues is how many distinct values one metric's Values array
	// may hold.
	EMFMaxValues = 100
)

// EMF dimension keys that slinkerd always sets (FunctionName only when
// it is known).
const (
	// EMFDimFunctionName is the Lambda function's name
	// (AWS_LAMBDA_FUNCTION_NAME).
	EMFDimFunctionName = "FunctionName"
	// EMFDimService is the logical name (e.g. /svc/users), or "other"
	// past the service cap.
	EMFDimService = "Service"
)

// EMF metric names and units, in the order they are declared. Latency is
// a distribution: Values (bucket representatives, milliseconds) and
// Counts.
var emfMetrics = []emfMetric{
	{"Requests", "Count"},
	{"Successes", "Count"},
	{"Failures", "Count"},
	{"ProxyErrors", "Count"},
	{"Retries", "Count"},
	{"Requeues", "Count"},
	{"RetryBudgetExhausted", "Count"},
	{"Latency", "Milliseconds"},
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// EMFDimension is one extra dimension of the EMF lines, with the same
// value on every line.
type EMFDimension struct {
	// Name is the dimension's key, e.g. Environment.
	Name string
	// Value is its value, e.g. prod.
	Value string
}

// EMFConfig configures the CloudWatch embedded-metric-format lines that
// FlushEMF writes. Its zero value writes namespace "slinkerd" with the
// dimension Service only.
type EMFConfig struct {
	// Namespace is the CloudWatch namespace, 1 to 255 characters.
	// Defaults to "slinkerd" (SLINKERD_EMF_NAMESPACE).
	Namespace string
	// FunctionName is the value of the FunctionName dimension, the Lambda
	// function's name (AWS_LAMBDA_FUNCTION_NAME). Empty omits the
	// dimension. Defaults to empty.
	FunctionName string
	// Dimensions are extra dimensions, e.g. Environment=prod, added to
	// every line after FunctionName and Service (SLINKERD_EMF_DIMENSIONS).
	// One dimension set holds at most 30 keys in all. Defaults to none.
	Dimensions []EMFDimension
}

// ParseEMFDimensions parses a comma-separated list of Name=Value pairs,
// the format of SLINKERD_EMF_DIMENSIONS, e.g. "Environment=prod,Alias=live".
// Spaces around names and values are trimmed. Empty means none.
func ParseEMFDimensions(s string) ([]EMFDimension, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []EMFDimension
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return nil, fmt.Errorf("telemetry: EMF dimension %q: want Name=Value", strings.TrimSpace(part))
		}
		out = append(out, EMFDimension{Name: k, Value: v})
	}
	return out, nil
}

// Validate checks c against the EMF specification and slinkerd's own
// keys: a namespace of at most 255 characters; dimension names non-empty,
// unique, not a metric name nor _aws, FunctionName or Service; at most 30
// keys in the one dimension set; values non-empty.
func (c EMFConfig) Validate() error {
	if len(c.Namespace) > 255 {
		return fmt.Errorf("telemetry: EMF namespace is %d characters, CloudWatch allows 255", len(c.Namespace))
	}
	reserved := map[string]bool{"_aws": true, EMFDimFunctionName: true, EMFDimService: true}
	for _, m := range emfMetrics {
		reserved[m.Name] = true
	}
	seen := map[string]bool{}
	for _, d := range c.Dimensions {
		switch {
		case d.Name == "":
			return errors.New("telemetry: EMF dimension with an empty name")
		case reserved[d.Name]:
			return fmt.Errorf("telemetry: EMF dimension %q: the name is slinkerd's own", d.Name)
		case seen[d.Name]:
			return fmt.Errorf("telemetry: EMF dimension %q given twice", d.Name)
		case d.Value == "":
			return fmt.Errorf("telemetry: EMF dimension %q has an empty value", d.Name)
		}
		seen[d.Name] = true
	}
	if n := len(c.keys()); n > EMFMaxDimensions {
		return fmt.Errorf("telemetry: %d EMF dimensions, CloudWatch allows %d per dimension set", n, EMFMaxDimensions)
	}
	return nil
}

// keys returns the dimension set: FunctionName (when known), Service,
// then the extra dimensions.
func (c EMFConfig) keys() []string {
	var k []string
	if c.FunctionName != "" {
		k = append(k, EMFDimFunctionName)
	}
	k = append(k, EMFDimService)
	for _, d := range c.Dimensions {
		k = append(k, d.Name)
	}
	return k
}

// emfState is what the previous Flush reported, per service.
type emfState struct {
	base map[string]emfBase
}

type emfBase struct {
	counts    counts
	lat       *HistogramSnapshot
	exhausted uint64
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// emfDistribution is an EMF metric value made of Values and Counts.
type emfDistribution struct {
	Values []float64 `json:"Values"`
	Counts []uint64  `json:"Counts"`
}

// FlushEMF writes one CloudWatch embedded-metric-format line per service
// that served requests since the previous FlushEMF, in the namespace and
// with the dimensions of Config.EMF: the counts in that period
// (Requests, Successes, Failures, ProxyErrors, Retries, Requeues,
// RetryBudgetExhausted) and Latency, the period's latency histogram as
// EMF Values and Counts in milliseconds, from which CloudWatch computes
// percentiles across lines, instances and functions (see
// LatencyDistribution for its precision). at is the lines' Timestamp; it
// must be a time inside the period the lines describe (its end, when the
// flush ends it), so that the figures land in the right minute. The zero
// at, for a flush made after the period (at the next event), stamps each
// line with the arrival of its service's latest request. Services with no
// request in the period write nothing.
func (t *Telemetry) FlushEMF(w io.Writer, at time.Time) error {
	t.readMu.Lock()
	defer t.readMu.Unlock()
	exhausted := map[string]uint64{}
	if p := t.source.Load(); p != nil {
		for _, st := range (*p).Services() {
			exhausted[st.Service] = st.BudgetExhausted
		}
	}
	type item struct {
		name string
		s    *scope
	}
	var items []item
	for name, s := range t.services.all() {
		items = append(items, item{name, s})
	}
	items = append(items, item{OtherName, &t.svcOther})
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })

	ec := t.cfg.EMF
	ns := ec.Namespace
	if ns == "" {
		ns = EMFNamespace
	}
	bw := bufio.NewWriter(w)
	directives := []emfDirective{{Namespace: ns, Dimensions: [][]string{ec.keys()}, Metrics: emfMetrics}}
	now := t.clk.Now()
	next := make(map[string]emfBase, len(items))
	for _, it := range items {
		cur := emfBase{counts: it.s.counts(), lat: it.s.lat.Snapshot(), exhausted: exhausted[it.name]}
		base := t.emf.base[it.name]
		next[it.name] = cur
		d := cur.counts.sub(base.counts)
		if d.requests() == 0 {
			continue
		}
		values, counts := LatencyDistribution(cur.lat.Sub(base.lat))
		ts := at
		if ts.IsZero() {
			// After the period: the arrival of its service's latest request,
			// inside the period (another service's next request may already
			// have come).
			ts = now
			if n := it.s.last.Load(); n != 0 {
				ts = time.Unix(0, n)
			}
		}
		line := map[string]any{
			"_aws":                 emfMeta{Timestamp: ts.UnixMilli(), CloudWatchMetrics: directives},
			EMFDimService:          it.name,
			"Requests":             d.requests(),
			"Successes":            d.Successes,
			"Failures":             d.failures(-1),
			"ProxyErrors":          d.failures(srcProxy),
			"Retries":              d.Retries,
			"Requeues":             d.Requeues,
			"RetryBudgetExhausted": cur.exhausted - min(cur.exhausted, base.exhausted),
			"Latency":              emfDistribution{Values: values, Counts: counts},
		}
		if ec.FunctionName != "" {
			line[EMFDimFunctionName] = ec.FunctionName
		}
		for _, dim := range ec.Dimensions {
			line[dim.Name] = dim.Value
		}
		b, err := json.Marshal(line)
		if err != nil {
			return fmt.Errorf("telemetry: EMF line for %s: %w", it.name, err)
		}
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return fmt.Errorf("telemetry: write EMF: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("telemetry: write EMF: %w", err)
	}
	// Only now, so that a failed write reports the period again.
	t.emf.base = next
	return nil
}

// LatencyDistribution returns the observations of s as EMF Values (in
// milliseconds, ascending) and Counts (each positive), at most
// EMFMaxValues of each.
//
// Each value stands for one histogram bucket: its midpoint, or for the
// last, open-ended bucket (36 minutes and more) its lower bound. A
// bucket is at most 1/16 of its lower bound wide, so an observation is
// within 1/32 (about 3 %) of the value that stands for it. When more than
// 100 buckets are non-empty, neighbouring buckets of the same power of
// two are merged, two by two, until at most 100 remain: each merge
// doubles the bound, and since the histogram spans 28 powers of two, at
// most three merges (2 buckets per power of two, 56 values) are ever
// needed, so the bound is 1/4 in the worst case; observations spread over
// at most six powers of two (e.g. 1 to 64 ms) are never merged.
func LatencyDistribution(s *HistogramSnapshot) (values []float64, counts []uint64) {
	if s == nil || s.Count == 0 {
		return nil, nil
	}
	// shift: how many low bits of the bucket's position inside its
	// power of two are dropped (0 = full resolution).
	shift := uint(0)
	for ; shift < subBits; shift++ {
		if distinctGroups(s, shift) <= EMFMaxValues {
			break
		}
	}
	group := -1
	for i, n := range s.Counts {
		if n == 0 {
			continue
		}
		g := i >> shift
		if g != group {
			group = g
			values = append(values, groupValue(g, shift))
			counts = append(counts, 0)
		}
		counts[len(counts)-1] += n
	}
	return values, counts
}

// distinctGroups counts the non-empty groups of 2^shift neighbouring
// buckets. Groups never straddle two powers of two, since each power of
// two has 16 buckets and shift ≤ 4.
func distinctGroups(s *HistogramSnapshot, shift uint) int {
	n, group := 0, -1
	for i, c := range s.Counts {
		if c != 0 && i>>shift != group {
			group = i >> shift
			n++
		}
	}
	return n
}

// groupValue returns the value in milliseconds standing for buckets
// g<<shift to (g+1)<<shift - 1: the middle of their range, or the lower
// bound of the open-ended last bucket.
func groupValue(g int, shift uint) float64 {
	first, last := g<<shift, (g+1)<<shift-1
	lo, _ := bucketBounds(first)
	if last >= numBuckets-1 {
		if first == numBuckets-1 {
			return float64(lo) / 1000
		}
		last = numBuckets - 2 // the open-ended bucket has no middle
	}
	_, hi := bucketBounds(last)
	return (float64(lo) + float64(hi)) / 2 / 1000
}

// ms converts to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
