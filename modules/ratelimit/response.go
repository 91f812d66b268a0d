package ratelimit

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/intellistack/intellistack/internal/apierror"
)

// seconds rounds a positive duration up to whole seconds, as the RateLimit
// and Retry-After headers count them: waiting 0.2 s is "1", never "0".
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// policyHeader is the RateLimit-Policy value: every limit as "n;w=seconds".
func policyHeader(limits []Limit) string {
	parts := make([]string, len(limits))
	for i, l := range limits {
		parts[i] = fmt.Sprintf("%d;w=%d", l.Count, seconds(l.Window))
	}
	return strings.Join(parts, ", ")
}

// setQuotaHeaders writes the RateLimit header fields of the binding limit
// (the separate-fields form of draft-ietf-httpapi-ratelimit-headers).
func setQuotaHeaders(h http.Header, d Decision, policy string) {
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit.Count))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(seconds(d.Reset), 10))
	h.Set("RateLimit-Policy", policy)
}

// writeRefusal answers 429 with Retry-After and the JSON a chat widget can
// show ("the next one frees up at …").
func writeRefusal(w http.ResponseWriter, r *http.Request, d Decision) error {
	retry := seconds(d.RetryAfter)
	retryAt := d.At.Add(time.Duration(retry) * time.Second).UTC()
	w.Header().Set("Retry-After", strconv.FormatInt(retry, 10))
	window := FormatWindow(d.Limit.Window)
	return writeError(w, r, apierror.New(http.StatusTooManyRequests, "rate_limited",
		fmt.Sprintf("Limit reached: %d requests per %s. The next one frees up at %s.",
			d.Limit.Count, window, retryAt.Format("2006-01-02 15:04:05 UTC"))).
		With("limit", d.Limit.Count).
		With("window", window).
		With("retry_after", retry).
		With("retry_at", retryAt.Format(time.RFC3339)))
}

// writeError writes e, the platform's {"error": {…}} envelope; the handler
// answers for itself, so the body is JSON with or without handle_errors. It
// returns nil even when the write fails: the status is out, and an error
// would only make Caddy try to write another.
func writeError(w http.ResponseWriter, r *http.Request, e *apierror.Error) error {
	apierror.DrainBody(w, r) // before the body is read: see DrainBody
	e.Write(w)
	return nil
}
