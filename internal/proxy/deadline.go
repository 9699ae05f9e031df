package proxy

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Deadline headers.
const (
	hdrCtxDeadline = "L5d-Ctx-Deadline"
	hdrGRPCTimeout = "Grpc-Timeout"
)

// incomingDeadline returns the strictest deadline the caller asked for,
// from l5d-ctx-deadline ("<start_ns> <deadline_ns>", possibly several
// values) and grpc-timeout. ok is false when the caller set none.
func incomingDeadline(h http.Header, now time.Time) (deadline time.Time, ok bool, err error) {
	for _, v := range h[hdrCtxDeadline] { // canonical: no Values call
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			fields := strings.Fields(part)
			if len(fields) != 2 {
				return time.Time{}, false, fmt.Errorf("l5d-ctx-deadline %q: want \"<start_ns> <deadline_ns>\"", part)
			}
			ns, perr := strconv.ParseInt(fields[1], 10, 64)
			if _, serr := strconv.ParseInt(fields[0], 10, 64); perr != nil || serr != nil {
				return time.Time{}, false, fmt.Errorf("l5d-ctx-deadline %q: timestamps must be integers (ns since the epoch)", part)
			}
			d := time.Unix(0, ns)
			if !ok || d.Before(deadline) {
				deadline, ok = d, true
			}
		}
	}
	if v := h.Get(hdrGRPCTimeout); v != "" {
		to, perr := parseGRPCTimeout(v)
		if perr != nil {
			return time.Time{}, false, perr
		}
		d := now.Add(to)
		if !ok || d.Before(deadline) {
			deadline, ok = d, true
		}
	}
	return deadline, ok, nil
}

// parseGRPCTimeout parses the grpc-timeout header: up to 8 digits and a
// unit of H, M, S, m (ms), u (µs) or n (ns).
func parseGRPCTimeout(v string) (time.Duration, error) {
	if len(v) < 2 || len(v) > 9 {
		return 0, fmt.Errorf("grpc-timeout %q: want 1-8 digits and a unit", v)
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("grpc-timeout %q: want 1-8 digits and a unit", v)
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, fmt.Errorf("grpc-timeout %q: unknown unit %q", v, v[len(v)-1])
	}
	return time.Duration(n) * unit, nil
}

// appendGRPCTimeout appends d as a grpc-timeout value to b: in the
// largest precise unit that fits in 8 digits, rounding down so the
// receiver never sees a longer timeout than the one left.
func appendGRPCTimeout(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	const max = 99999999
	units := [...]struct {
		d time.Duration
		c byte
	}{{time.Nanosecond, 'n'}, {time.Microsecond, 'u'}, {time.Millisecond, 'm'}, {time.Second, 'S'}, {time.Minute, 'M'}, {time.Hour, 'H'}}
	for _, u := range units {
		if n := int64(d / u.d); n <= max {
			return append(strconv.AppendInt(b, n, 10), u.c)
		}
	}
	return append(b, "99999999H"...)
}

// setDeadlineHeaders writes the outgoing deadline headers for deadline
// with set (http.Header.Set, or a route's setHeader).
func setDeadlineHeaders(h http.Header, now, deadline time.Time, set func(http.Header, string, string)) {
	// Both values in one string: one allocation where formatting each
	// number on its own took five.
	var b [64]byte
	v := strconv.AppendInt(b[:0], now.UnixNano(), 10)
	v = append(v, ' ')
	v = strconv.AppendInt(v, deadline.UnixNano(), 10)
	n := len(v)
	all := string(appendGRPCTimeout(v, deadline.Sub(now)))
	set(h, hdrCtxDeadline, all[:n])
	set(h, hdrGRPCTimeout, all[n:])
}
