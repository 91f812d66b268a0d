package oidc

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
)

func init() {
	conformanceCases = append(conformanceCases, conformanceCase{"concurrent redemption of one code and one refresh token (RFC 6749 §4.1.2; RFC 9700 §4.14)", testConcurrentRedemption})
}

// testConcurrentRedemption: racing requests for one code or one refresh
// token get exactly one success; the losers are reuse, so the winner's
// tokens are revoked too; nobody sees a 5xx.
func testConcurrentRedemption(t *testing.T, e *env) {
	br := e.signedIn("race@example.com")
	race := func(form url.Values) (ok int, bodies []map[string]any) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, body := e.token("other", url.Values(cloneValues(form)))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case p.status == http.StatusOK:
					ok++
					bodies = append(bodies, body)
				case p.status >= 500:
					t.Errorf("racing request answered %d: %s", p.status, p.body)
				case body["error"] != "invalid_grant":
					t.Errorf("racing request: %d %v", p.status, body)
				}
			}()
		}
		wg.Wait()
		return ok, bodies
	}
	cb := e.code(br, e.authParams("other", nil, url.Values{"scope": {"openid offline_access"}}))
	ok, bodies := race(url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {"https://other.test/callback"}})
	if ok != 1 {
		t.Fatalf("%d successful redemptions of one code", ok)
	}
	if p := userinfo(t, e, bodies[0]["access_token"].(string), "GET"); p.status != 401 {
		t.Fatalf("winner's access token survived the reuse: %d", p.status)
	}
	body := e.exchange("other", e.code(br, e.authParams("other", nil, url.Values{"scope": {"openid offline_access"}})), nil)
	ok, bodies = race(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}})
	if ok != 1 {
		t.Fatalf("%d successful refreshes of one token", ok)
	}
	p, _ := e.token("other", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {bodies[0]["refresh_token"].(string)}})
	wantOAuthError(t, p, 400, "invalid_grant")
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, x := range v {
		out[k] = append([]string(nil), x...)
	}
	return out
}
