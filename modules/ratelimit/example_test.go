package ratelimit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/intellistack/intellistack/modules/ratelimit"
)

// A brute-force guard as the OpenID provider uses it: every sign-in attempt
// per IP address goes through Allow; failures per account are recorded and
// checked before the password is, and forgotten after a success. In Caddy,
// use NewDatabaseLimiter with the intellistack app (store.GetApp) so the
// limits hold across nodes, or AcquireMemoryLimiter for one node.
func Example_bruteForce() {
	ctx := context.Background()
	perIP, _ := ratelimit.NewMemoryLimiter(ratelimit.Config{
		Zone:   "oidc.sign_in.ip",
		Limits: []ratelimit.Limit{{Count: 30, Window: 15 * time.Minute}},
	})
	defer perIP.Close()
	lockout, _ := ratelimit.NewMemoryLimiter(ratelimit.Config{
		Zone:   "oidc.sign_in.failures",
		Limits: []ratelimit.Limit{{Count: 5, Window: 30 * time.Minute}},
	})
	defer lockout.Close()

	signIn := func(ip, email string, passwordOK bool) string {
		if d, err := perIP.Allow(ctx, ip); err != nil || !d.Allowed {
			return "429 too many attempts from this address"
		}
		if d, err := lockout.Check(ctx, email); err != nil || !d.Allowed {
			return "429 account locked for " + ratelimit.FormatWindow(d.RetryAfter.Round(time.Minute))
		}
		if !passwordOK {
			lockout.Record(ctx, email)
			return "401 wrong password"
		}
		lockout.Reset(ctx, email)
		return "200 signed in"
	}
	for i := 0; i < 6; i++ {
		fmt.Println(signIn("203.0.113.9", "ada@example.com", false))
	}
	// Output:
	// 401 wrong password
	// 401 wrong password
	// 401 wrong password
	// 401 wrong password
	// 401 wrong password
	// 429 account locked for 30m
}
