package oidc

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intellistack/intellistack/internal/metrics"
	"github.com/intellistack/intellistack/modules/oidc/storage"
	"github.com/intellistack/intellistack/modules/ratelimit"
)

// Every audit row the provider writes for a sign-in, a token or a refresh
// reuse maps to one metric and label; the details are the sentences the
// code records (hosted pages, better_auth_api, upstream legs).
func TestAuthFacts(t *testing.T) {
	t.Parallel()
	ev := func(event, outcome, detail string) storage.Event {
		return storage.Event{Event: event, Outcome: outcome, Detail: detail}
	}
	cases := []struct {
		e    storage.Event
		want facts
	}{
		{ev(evSignIn, "success", ""), facts{signIn: methodPassword}},
		{ev(evSignIn, "success", "better_auth_api"), facts{signIn: methodBetterAuth}},
		{ev(evUpstreamSignIn, "success", "google"), facts{signIn: methodUpstream}},
		{ev(evUpstreamSignIn, "success", "google: better_auth_api"), facts{signIn: methodUpstream}},
		{ev(evUpstreamSignUp, "success", "github"), facts{signIn: methodUpstream}},
		{ev(evSignUp, "success", ""), facts{}},
		{ev(evSignUp, "failure", "email taken"), facts{}},

		{ev(evSignIn, "failure", "invalid e-mail or password"), facts{failure: reasonBadCredentials}},
		{ev(evSignIn, "failure", "user is banned"), facts{failure: reasonBanned}},
		{ev(evSignIn, "failure", "account locked after failed sign-ins"), facts{failure: reasonLocked}},
		{ev(evSignIn, "failure", "too many attempts from this address"), facts{failure: reasonRateLimited}},
		{ev(evSignIn, "failure", "email not verified"), facts{failure: reasonUnverifiedEmail}},
		{ev(evSignIn, "failure", "something new"), facts{failure: reasonOther}},

		{ev(evUpstreamSignIn, "failure", "google: upstream error: discovery: unreachable"), facts{failure: reasonUpstreamError}},
		{ev(evUpstreamSignIn, "failure", "google: upstream error: access_denied"), facts{failure: reasonUpstreamError}},
		{ev(evUpstreamSignIn, "failure", "google: ID token refused: bad audience"), facts{failure: reasonUpstreamError}},
		{ev(evUpstreamSignIn, "failure", "google: issuer mismatch"), facts{failure: reasonUpstreamError}},
		{ev(evUpstreamSignIn, "failure", "github: no usable e-mail address"), facts{failure: reasonUpstreamError}},
		{ev(evUpstreamSignIn, "failure", "google: state mismatch"), facts{failure: reasonInvalidRequest}},
		{ev(evUpstreamSignIn, "failure", "google: nonce mismatch"), facts{failure: reasonInvalidRequest}},
		{ev(evUpstreamSignIn, "failure", "google: user is banned"), facts{failure: reasonBanned}},
		{ev(evUpstreamSignUp, "failure", "google: created concurrently"), facts{failure: reasonConflict}},
		{ev(evUpstreamLink, "failure", "google: unverified e-mail: the upstream address is not verified"), facts{failure: reasonUnverifiedEmail}},
		{ev(evUpstreamLink, "failure", "google: account linked concurrently"), facts{failure: reasonConflict}},
		// Refusals on the linked accounts page are not sign-ins.
		{ev(evUpstreamLink, "failure", "google: linked to another user"), facts{}},
		{ev(evUpstreamLink, "failure", "google: upstream error: access_denied"), facts{}},
		{ev(evUpstreamLink, "success", "google: by verified e-mail"), facts{}},

		{ev(evTokenIssued, "success", "authorization_code"), facts{grant: grantAuthorizationCode}},
		{ev(evTokenRefresh, "success", ""), facts{grant: grantRefreshToken}},
		{ev(evRefreshReuse, "failure", "rotated refresh token presented again; family revoked"), facts{reuse: true}},
		{ev(evCodeReuse, "failure", ""), facts{}},
		{ev(evSignOut, "success", ""), facts{}},
		{ev(evPasswordChanged, "failure", "invalid e-mail or password"), facts{}},
	}
	for _, c := range cases {
		if got := authFacts(c.e); got != c.want {
			t.Errorf("%s/%s %q: %+v, want %+v", c.e.Event, c.e.Outcome, c.e.Detail, got, c.want)
		}
	}
}

// A lockout is the failed attempt that used the account's last allowance;
// a limiter that is off, failed or already refusing never counts one.
func TestLockedOut(t *testing.T) {
	before := promtest.ToFloat64(lockoutsTotal)
	five := ratelimit.Limit{Count: 5}
	for _, d := range []ratelimit.Decision{
		{Allowed: true, Limit: five, Remaining: 1},
		{Allowed: true, Limit: five, Remaining: 0}, // the one
		{Allowed: false, Limit: five, Remaining: 0},
		{}, // limiter off or failed
	} {
		lockedOut(d)
	}
	if got := promtest.ToFloat64(lockoutsTotal) - before; got != 1 {
		t.Fatalf("lockouts counted %v, want 1", got)
	}
}

// The collectors register into a fresh registry (a reload) and lint clean.
func TestMetricsLint(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	if err := metrics.RegisterTo(reg, collectors...); err != nil {
		t.Fatal(err)
	}
	if problems, err := promtest.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}
