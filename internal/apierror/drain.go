package apierror

import (
	"io"
	"net/http"
	"time"
)

// A refusal written before the request body is read (bearer_jwt's 401,
// request_quota's 429) first reads what is left of a small body. A client
// that sees a 4xx before it has sent its body stops sending it (Go's
// HTTP/2 client does, by design), and a Caddy reverse_proxy in front, still
// forwarding that body, then never ends the response: its upstream stream
// waits for a body that will not come (Caddy 2.11's bodyNopCloserIfNotRead
// does not close a body whose first Read is still blocked). The client
// waits for its own timeout; test/reliability saw 60 s through a load
// balancer. Once the body has reached the node, the refusal cannot overtake
// it. Bodies larger than drainLimit are not waited for: the refusal goes
// out at once, as before.
const (
	drainLimit = 64 << 10
	drainWait  = time.Second
)

// DrainBody reads and discards the rest of r's body, up to drainLimit bytes
// and for at most drainWait, before an early refusal.
func DrainBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || r.ContentLength > drainLimit {
		return
	}
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(drainWait)) == nil
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, drainLimit))
	if deadline {
		_ = rc.SetReadDeadline(time.Time{})
	}
}
