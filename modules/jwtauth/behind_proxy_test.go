package jwtauth

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/jwtauth/internal/jwttest"
)

// A refusal behind a Caddy load balancer, both legs HTTP/2: the client (Go's
// HTTP/2 transport) stops sending its body once it sees a 4xx, and a
// refusal written before the body reached the node left the balancer's
// response open until the client's timeout (1 POST in 10 to 20 here; 60 s
// in test/reliability). The refusal now waits for a small body first
// (apierror.DrainBody), so every answer ends at once.
func TestRefusalBehindCaddyProxyEnds(t *testing.T) {
	a, _, _ := jwttest.Keys(t)
	keys := jwttest.NewJWKSServer(t, a)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	node := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := testutil.StartCaddy(t, fmt.Sprintf(`
https://localhost {
	reverse_proxy https://127.0.0.1:%[1]d {
		flush_interval -1
		header_up Host localhost
		transport http {
			tls_insecure_skip_verify
			tls_server_name localhost
		}
	}
}

https://localhost:%[1]d {
	request_body {
		max_size 1MB
	}
	route {
		bearer_jwt {
			issuer %[2]s
			jwks_url %[3]s/jwks
		}
		respond "ok"
	}
}
`, node, testIssuer, keys.URL))
	client := c.NewClient()
	client.Timeout = 5 * time.Second
	for i := range 100 {
		req, _ := http.NewRequest(http.MethodPost, c.URL("/api/v1/chatkit"), strings.NewReader(`{"type":"threads.list","params":{}}`))
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusUnauthorized || resp.ProtoMajor != 2 || !strings.Contains(string(body), `"reason":"missing"`) {
			t.Fatalf("POST %d: %d %s %q after %s: %v", i, resp.StatusCode, resp.Proto, body, time.Since(start), err)
		}
	}
}
