// Package ratelimit is IntelliStack's quota and brute-force limiter: exact
// sliding-window limits per key (a user id, an IP address, an email…), kept
// in memory for one node or in the shared database for several, behind a
// small Go API (Limiter) that other modules use directly and a Caddy handler,
// http.handlers.request_quota, that applies it to HTTP routes.
//
// The window is a rolling log of admitted events, not fixed buckets: "20 per
// 24h" admits a request when fewer than 20 were admitted in the 24 hours
// before it, whatever the calendar says. Refused requests are not recorded, so
// a client that keeps knocking does not push its own recovery back.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limit is "Count events per Window".
type Limit struct {
	Count  int
	Window time.Duration
}

// String renders the limit as "20 per 24h".
func (l Limit) String() string { return fmt.Sprintf("%d per %s", l.Count, FormatWindow(l.Window)) }

// MaxCount bounds Limit.Count. The sliding log keeps up to Count timestamps
// per key and reads them on every check, which is what makes it exact; limits
// in the thousands per key are a job for a token bucket, not for this.
const MaxCount = 10000

// Decision is the outcome of a check, with the figures a client needs to
// pace itself. When several limits apply, the figures are those of the
// binding one: the limit that refused (the one that frees up last), or, for
// an admitted request, the one with the fewest requests left.
type Decision struct {
	// Allowed reports whether the request was (Allow) or would be (Check,
	// Record) admitted.
	Allowed bool
	// Limit is the binding limit.
	Limit Limit
	// Remaining is how many more requests the binding limit admits now.
	Remaining int
	// Reset is how long until the oldest event counted by the binding limit
	// leaves its window, that is until Remaining next goes up; 0 when the
	// window holds no events.
	Reset time.Duration
	// RetryAfter is how long until a refused request would be admitted; 0
	// when Allowed.
	RetryAfter time.Duration
	// At is the time the decision was taken (and the event recorded).
	At time.Time
}

// RetryAt is when a refused request would be admitted.
func (d Decision) RetryAt() time.Time { return d.At.Add(d.RetryAfter) }

// Limiter is the interface other modules use, for example the OpenID
// provider's brute-force limits per IP address and per account.
//
// Keys are opaque strings; the limiter hashes them, so an email address or an
// IP address is never stored as such, and a key of any length is fine. An
// empty key is refused with ErrEmptyKey: one bucket shared by every request
// whose key failed to resolve is never what a caller wants.
type Limiter interface {
	// Allow checks the limits and, when they admit the request, records it,
	// as one atomic step: under any concurrency, on any number of nodes
	// sharing the store, a limit of n admits exactly n requests per window.
	Allow(ctx context.Context, key string) (Decision, error)
	// Check reports whether Allow would admit a request now, recording
	// nothing.
	Check(ctx context.Context, key string) (Decision, error)
	// Record records an event whether or not the limits admit it (for
	// example a failed sign-in, for a lockout checked with Check) and
	// returns the state after it, as Check would report it.
	Record(ctx context.Context, key string) (Decision, error)
	// Reset forgets every event of the key (for example after a successful
	// sign-in).
	Reset(ctx context.Context, key string) error
}

// Config describes a limiter.
type Config struct {
	// Zone names the counters: keys in different zones never share events,
	// and limiters with the same zone on the same store do. Use a name that
	// says what is limited, such as "oidc.sign_in.ip".
	Zone string
	// Limits all apply; a request is admitted only when every one admits it.
	Limits []Limit
	// Now is the clock. Nil means time.Now; tests inject a fake one.
	Now func() time.Time
}

// ErrEmptyKey is returned for an empty key.
var ErrEmptyKey = errors.New("ratelimit: empty key")

// validate checks a Config and fills in its defaults.
func (c *Config) validate() error {
	if c.Zone == "" {
		return errors.New("ratelimit: zone is required")
	}
	if len(c.Limits) == 0 {
		return errors.New("ratelimit: at least one limit is required")
	}
	for _, l := range c.Limits {
		if l.Count < 1 || l.Count > MaxCount {
			return fmt.Errorf("ratelimit: limit count %d is out of range 1..%d", l.Count, MaxCount)
		}
		if l.Window < time.Millisecond {
			return fmt.Errorf("ratelimit: limit window %v is shorter than 1ms", l.Window)
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// span is what a store needs to know about a set of limits: how far back
// events matter and how many of the newest ones matter.
type span struct {
	window time.Duration // the longest window
	count  int           // the largest count
}

func spanOf(limits []Limit) span {
	var s span
	for _, l := range limits {
		s.window = max(s.window, l.Window)
		s.count = max(s.count, l.Count)
	}
	return s
}

// admits reports whether the limits admit one more event at now, given the
// key's events newest first (Unix milliseconds). An event counts in a window
// W while at > now-W: one admitted exactly W ago has just left it.
func admits(events []int64, now int64, limits []Limit) bool {
	for _, l := range limits {
		if countSince(events, now-l.Window.Milliseconds()) >= l.Count {
			return false
		}
	}
	return true
}

// countSince counts the events (newest first) later than since.
func countSince(events []int64, since int64) int {
	n := 0
	for _, at := range events {
		if at <= since {
			break
		}
		n++
	}
	return n
}

// summarize computes the Decision figures for the key's events (newest
// first) at now. Allowed is whether one more event would be admitted.
func summarize(events []int64, now int64, limits []Limit) Decision {
	d := Decision{Allowed: true, At: time.UnixMilli(now), Remaining: -1}
	for _, l := range limits {
		win := l.Window.Milliseconds()
		n := countSince(events, now-win)
		var reset time.Duration
		if n > 0 {
			reset = time.Duration(events[n-1]+win-now) * time.Millisecond
		}
		if n >= l.Count {
			// Admitted again once the Count-th newest event leaves the window.
			retry := time.Duration(events[l.Count-1]+win-now) * time.Millisecond
			if d.Allowed || retry > d.RetryAfter {
				d.Allowed = false
				d.Limit, d.Remaining, d.Reset, d.RetryAfter = l, 0, reset, retry
			}
			continue
		}
		if d.Allowed && (d.Remaining < 0 || l.Count-n < d.Remaining) {
			d.Limit, d.Remaining, d.Reset = l, l.Count-n, reset
		}
	}
	return d
}

// decide turns what a store did into the caller's Decision: pre are the
// events before this call (newest first), recorded whether the call added one
// at now.
func decide(op op, pre []int64, recorded bool, now int64, limits []Limit) Decision {
	if !recorded {
		return summarize(pre, now, limits)
	}
	post := make([]int64, 0, len(pre)+1)
	post = append(append(post, now), pre...)
	d := summarize(post, now, limits)
	if op == opAllow {
		// Admitted, even if it used the last unit.
		d.Allowed, d.RetryAfter = true, 0
		if d.Remaining < 0 {
			d.Remaining = 0
		}
	}
	return d
}

// op is what a store is asked to do under the key's lock.
type op string

const (
	opAllow  op = "allow"  // record when admitted
	opCheck  op = "check"  // record nothing
	opRecord op = "record" // record regardless
)

// FormatWindow renders a duration the way an operator wrote it: 24h, 30m,
// 1h30m, 90s, 500ms.
func FormatWindow(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d%time.Second != 0 {
		return d.String()
	}
	var s string
	h, m, sec := int64(d/time.Hour), int64(d%time.Hour/time.Minute), int64(d%time.Minute/time.Second)
	if h > 0 {
		s += fmt.Sprintf("%dh", h)
	}
	if m > 0 {
		s += fmt.Sprintf("%dm", m)
	}
	if sec > 0 {
		s += fmt.Sprintf("%ds", sec)
	}
	return s
}
