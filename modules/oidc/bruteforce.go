package oidc

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/ratelimit"
)

// Brute-force limits on the hosted forms, with request_quota's limiter (the
// same exact sliding windows, shared by every node through the database):
// per client IP on every sign-in and sign-up POST, and per account on
// password attempts, counted before the check (a lockout that a successful
// sign-in clears).
const (
	defaultLockoutFailures = 5
	defaultLockoutWindow   = 30 * time.Minute
	defaultIPAttempts      = 30
	defaultIPWindow        = 15 * time.Minute
)

type bruteForce struct {
	perIP      ratelimit.Limiter // nil when off
	perAccount ratelimit.Limiter // nil when off
	logger     *zap.Logger
}

func newBruteForce(src ratelimit.DBSource, now func() time.Time, lockout, perIP ratelimit.Limit, logger *zap.Logger) (*bruteForce, error) {
	b := &bruteForce{logger: logger}
	if perIP.Count > 0 {
		l, err := ratelimit.NewDatabaseLimiter(src, ratelimit.Config{Zone: "oidc.forms.ip", Limits: []ratelimit.Limit{perIP}, Now: now})
		if err != nil {
			return nil, fmt.Errorf("ip_limit: %v", err)
		}
		b.perIP = l
	}
	if lockout.Count > 0 {
		l, err := ratelimit.NewDatabaseLimiter(src, ratelimit.Config{Zone: "oidc.sign_in.account", Limits: []ratelimit.Limit{lockout}, Now: now})
		if err != nil {
			return nil, fmt.Errorf("lockout: %v", err)
		}
		b.perAccount = l
	}
	return b, nil
}

// ipRefused counts an attempt from ip and says whether it is over the limit.
// A limiter failure (database down) admits: the form itself will fail on the
// same database, and locking everyone out would be worse.
func (b *bruteForce) ipRefused(ctx context.Context, ip string) (ratelimit.Decision, bool) {
	if b == nil || b.perIP == nil || ip == "" {
		return ratelimit.Decision{}, false
	}
	d, err := b.perIP.Allow(ctx, ip)
	if err != nil {
		b.logger.Error("brute-force limiter", zap.Error(err))
		return d, false
	}
	return d, !d.Allowed
}

// attempt counts a password attempt for email before the password is
// checked, atomically (the limiter's Allow), and says whether the account
// is locked. Counting first is what bounds concurrent guesses: with a check
// and a later record, a burst of simultaneous attempts all passed the check
// before any failure was recorded. A success clears the count (succeeded).
func (b *bruteForce) attempt(ctx context.Context, email string) (ratelimit.Decision, bool) {
	if b == nil || b.perAccount == nil || email == "" {
		return ratelimit.Decision{}, false
	}
	d, err := b.perAccount.Allow(ctx, email)
	if err != nil {
		b.logger.Error("brute-force limiter", zap.Error(err))
		return d, false
	}
	return d, !d.Allowed
}

// succeeded clears email's failures.
func (b *bruteForce) succeeded(ctx context.Context, email string) {
	if b == nil || b.perAccount == nil || email == "" {
		return
	}
	if err := b.perAccount.Reset(ctx, email); err != nil {
		b.logger.Error("brute-force limiter", zap.Error(err))
	}
}

// retryMessage tells the user when to come back, in minutes.
func retryMessage(what string, d ratelimit.Decision) string {
	mins := int(d.RetryAfter.Round(time.Minute) / time.Minute)
	if mins < 1 {
		mins = 1
	}
	unit := "minutes"
	if mins == 1 {
		unit = "minute"
	}
	return fmt.Sprintf("%s Try again in %d %s.", what, mins, unit)
}
