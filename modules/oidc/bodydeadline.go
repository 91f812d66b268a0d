package oidc

import (
	"net/http"
	"time"
)

// formReadTimeout bounds the reading of a form body (token, revocation,
// introspection and the hosted pages' posts), so a client trickling its
// body cannot hold a connection and a handler; the server's own read
// timeouts, when the Caddyfile sets them, still apply. A variable so tests
// can shorten it.
var formReadTimeout = 10 * time.Second

// readFormBody parses r's form under a read deadline of formReadTimeout,
// cleared afterwards (the response is written without it). Where the
// connection cannot take a deadline (a test recorder), it reads without.
func readFormBody(w http.ResponseWriter, r *http.Request) error {
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(formReadTimeout)); err == nil {
		defer rc.SetReadDeadline(time.Time{})
	}
	return r.ParseForm()
}
