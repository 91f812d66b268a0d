package ratelimit

import (
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
)

// The golden files pin the Caddyfile syntax, the JSON it adapts to, and where
// request_quota runs among the standard directives.
func TestAdaptGolden(t *testing.T) {
	t.Parallel()
	testutil.AssertAdaptGolden(t, "testdata/adapt")
}
