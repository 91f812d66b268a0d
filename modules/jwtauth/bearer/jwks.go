package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Bounds of the JWKS cache.
const (
	maxDocumentSize = 1 << 20          // a JWKS or discovery document larger than this is refused
	fetchTimeout    = 10 * time.Second // one discovery + JWKS round trip
)

// JWKSConfig says where keys come from and how often they are refreshed.
type JWKSConfig struct {
	JWKSURL   string        // explicit key URL
	Issuer    string        // discovery base when JWKSURL and Local are empty
	Local     LocalJWKS     // an in-process issuer's keys; when set, no HTTP at all
	Interval  time.Duration // periodic refresh
	MinPeriod time.Duration // at most one fetch per MinPeriod for unknown kids
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnFetch, when set, is told the outcome of every completed fetch (nil
	// error for success), for metrics; a fetch aborted by Close is not
	// reported. Not part of the PoolKey.
	OnFetch func(err error)
}

// PoolKey identifies a shareable cache of a remote source: everything that
// changes what it fetches or how often. (A cache of an in-process issuer
// belongs to one config and is never pooled.)
func (c JWKSConfig) PoolKey() string {
	src := "jwks:" + c.JWKSURL
	if c.JWKSURL == "" {
		src = "issuer:" + c.Issuer
	}
	return src + "|" + c.Interval.String() + "|" + c.MinPeriod.String()
}

// JWKSCache holds the last-known-good key set of one JWKS source. It runs
// no goroutine of its own: fetches happen when a caller needs keys, and a
// Refresher adds the periodic refresh.
//
// Refresh rules: periodically every interval (a Cache-Control max-age can
// shorten it down to minPeriod, never lengthen it); on an unknown kid at
// most once per minPeriod; one fetch at a time, whoever asks (single
// flight); a failed fetch keeps the previous keys and logs a warning, and is
// retried with backoff from minPeriod up to interval.
type JWKSCache struct {
	cfg    JWKSConfig
	client *http.Client
	now    func() time.Time
	logger atomic.Pointer[zap.Logger]

	keys atomic.Pointer[KeySet]

	mu          sync.Mutex
	inflight    chan struct{} // closed when the running fetch ends
	lastAttempt time.Time
	nextDue     time.Time // when the periodic refresh is due
	failures    int
	discovered  string // jwks_uri found through discovery

	ctx    context.Context // fetches run on it, so a client hanging up aborts nobody's fetch
	cancel context.CancelFunc
}

// NewJWKSCache makes an empty cache; nothing is fetched until keys are
// asked for. Close it when done.
func NewJWKSCache(cfg JWKSConfig, logger *zap.Logger) *JWKSCache {
	ctx, cancel := context.WithCancel(context.Background())
	c := &JWKSCache{
		cfg:    cfg,
		client: &http.Client{Timeout: fetchTimeout},
		now:    cfg.Now,
		ctx:    ctx,
		cancel: cancel,
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.logger.Store(logger)
	return c
}

// SetLogger makes logger the one that reports fetch failures (the newest
// config's logger, after a reload).
func (c *JWKSCache) SetLogger(logger *zap.Logger) { c.logger.Store(logger) }

// Close aborts a running fetch; the keys already held stay readable.
func (c *JWKSCache) Close() { c.cancel() }

// Current returns the keys, fetching them first (single flight, rate
// limited) when none were ever obtained. nil means there are none.
func (c *JWKSCache) Current(ctx context.Context) *KeySet {
	if ks := c.keys.Load(); ks != nil {
		return ks
	}
	return c.refresh(ctx, true)
}

// RefreshUnknown refreshes because a token names an unknown kid, unless a
// fetch happened less than minPeriod ago, so a flood of made-up kids costs
// the issuer one request per minPeriod at most.
func (c *JWKSCache) RefreshUnknown(ctx context.Context) *KeySet {
	return c.refresh(ctx, true)
}

// RetryAfter is how many seconds a client should wait before the next fetch
// may run (for a 503's Retry-After).
func (c *JWKSCache) RetryAfter() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	wait := c.lastAttempt.Add(c.cfg.MinPeriod).Sub(c.now())
	return max(1, int((wait+time.Second-1)/time.Second))
}

// refresh fetches the JWKS unless one fetch is already running (then it
// waits for that one) or, when limited, the last attempt is too recent. The
// fetch itself runs on the cache's own context, so a client hanging up does
// not abort it for everybody else.
func (c *JWKSCache) refresh(ctx context.Context, limited bool) *KeySet {
	c.mu.Lock()
	if ch := c.inflight; ch != nil {
		c.mu.Unlock()
		return c.wait(ctx, ch)
	}
	if limited && !c.lastAttempt.IsZero() && c.now().Sub(c.lastAttempt) < c.cfg.MinPeriod {
		c.mu.Unlock()
		return c.keys.Load()
	}
	ch := make(chan struct{})
	c.inflight = ch
	c.lastAttempt = c.now()
	c.mu.Unlock()

	go func() {
		defer close(ch)
		c.fetchOnce()
	}()
	return c.wait(ctx, ch)
}

func (c *JWKSCache) wait(ctx context.Context, ch chan struct{}) *KeySet {
	select {
	case <-ch:
	case <-ctx.Done():
	}
	return c.keys.Load()
}

// fetchOnce does one discovery (when needed) and JWKS fetch and records the
// outcome. Called only by refresh, which guarantees one at a time.
func (c *JWKSCache) fetchOnce() {
	ctx, cancel := context.WithTimeout(c.ctx, fetchTimeout)
	defer cancel()
	ks, maxAge, err := c.fetch(ctx)

	c.mu.Lock()
	defer func() {
		c.inflight = nil
		c.mu.Unlock()
	}()
	now := c.now()
	if c.cfg.OnFetch != nil && c.ctx.Err() == nil {
		c.cfg.OnFetch(err)
	}
	if err != nil {
		c.failures++
		backoff := c.cfg.MinPeriod << min(c.failures-1, 16)
		c.nextDue = now.Add(min(backoff, c.cfg.Interval))
		if c.ctx.Err() == nil {
			msg := "fetching JWKS failed; keeping the last known keys"
			if c.keys.Load() == nil {
				msg = "fetching JWKS failed; no keys yet, requests get 503"
			}
			c.logger.Load().Warn(msg, zap.String("source", c.source()), zap.Int("consecutive_failures", c.failures), zap.Error(err))
		}
		return
	}
	c.failures = 0
	c.keys.Store(ks)
	next := c.cfg.Interval
	if maxAge >= 0 {
		next = min(max(maxAge, c.cfg.MinPeriod), c.cfg.Interval)
	}
	c.nextDue = now.Add(next)
}

func (c *JWKSCache) source() string {
	switch {
	case c.cfg.Local != nil:
		return "in-process " + c.cfg.Issuer
	case c.cfg.JWKSURL != "":
		return c.cfg.JWKSURL
	}
	return c.cfg.Issuer
}

// fetch gets the key set: from the in-process issuer, the JWKS URL, or the
// jwks_uri of the issuer's discovery document; maxAge is the response's
// Cache-Control max-age (-1 when absent).
func (c *JWKSCache) fetch(ctx context.Context) (*KeySet, time.Duration, error) {
	if c.cfg.Local != nil {
		doc, err := c.cfg.Local(ctx)
		if err != nil {
			return nil, -1, fmt.Errorf("local issuer: %w", err)
		}
		ks, err := ParseKeySet(doc)
		return ks, -1, err
	}
	url := c.cfg.JWKSURL
	if url == "" {
		c.mu.Lock()
		url = c.discovered
		c.mu.Unlock()
		if url == "" {
			found, err := c.discover(ctx)
			if err != nil {
				return nil, -1, err
			}
			c.mu.Lock()
			c.discovered = found
			c.mu.Unlock()
			url = found
		}
	}
	body, header, err := c.get(ctx, url)
	if err != nil {
		return nil, -1, err
	}
	ks, err := ParseKeySet(body)
	if err != nil {
		return nil, -1, err
	}
	return ks, cacheMaxAge(header.Get("Cache-Control")), nil
}

// discover reads jwks_uri from the issuer's OpenID Provider metadata
// (OpenID Connect Discovery 1.0 §4), checking that the document is the
// issuer's own (§4.3).
func (c *JWKSCache) discover(ctx context.Context) (string, error) {
	body, _, err := c.get(ctx, strings.TrimSuffix(c.cfg.Issuer, "/")+"/.well-known/openid-configuration")
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &meta); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	if strings.TrimSuffix(meta.Issuer, "/") != strings.TrimSuffix(c.cfg.Issuer, "/") {
		return "", fmt.Errorf("discovery: metadata names issuer %q, expected %q", meta.Issuer, c.cfg.Issuer)
	}
	if !strings.HasPrefix(meta.JWKSURI, "https://") && !strings.HasPrefix(meta.JWKSURI, "http://") {
		return "", errors.New("discovery: metadata has no http(s) jwks_uri")
	}
	return meta.JWKSURI, nil
}

func (c *JWKSCache) get(ctx context.Context, url string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, nil, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(body) > maxDocumentSize {
		return nil, nil, fmt.Errorf("GET %s: document larger than %d bytes", url, maxDocumentSize)
	}
	return body, resp.Header, nil
}

// cacheMaxAge reads max-age from a Cache-Control value: no-store and
// no-cache count as 0, absence as -1.
func cacheMaxAge(v string) time.Duration {
	age := time.Duration(-1)
	for _, d := range strings.Split(v, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return 0
		case strings.HasPrefix(d, "max-age="):
			if n, err := strconv.ParseInt(strings.Trim(d[len("max-age="):], `"`), 10, 64); err == nil && n >= 0 {
				age = time.Duration(min(n, 1<<30)) * time.Second
			}
		}
	}
	return age
}
