// Package reliability runs the whole stack together — oidc_provider,
// bearer_jwt, request_quota, chatkit and the tutor on PostgreSQL, in real
// Caddy processes of this build — under a simulated class of students, and
// checks that nothing is lost: every accepted message stored once with a
// finished answer, every stream complete, every quota exact.
//
// By default (make test, CI) each scenario runs a short version; set
// RELIABILITY=full (make reliability) for the seed's figures: 500 students.
// Each scenario logs one table (t.Log) and a summary line.
package reliability

import (
	"os"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"

	_ "github.com/intellistack/intellistack" // every module, as the binary has them
)

func TestMain(m *testing.M) { testutil.Main(m) }

// scale is how big a scenario runs.
type scale struct {
	Students int           // simulated students
	Duration time.Duration // load phase
	Quota    int           // request_quota limit per student per 24h
	Think    [2]time.Duration
	Tokens   int // tokens per model answer
	// Hitters: every tenth student sends two messages past the quota.
	Hitters bool
}

// full is the seed's semester day; short the CI version on a 2-core machine.
var (
	full  = scale{Students: 500, Duration: 3 * time.Minute, Quota: 20, Think: [2]time.Duration{2 * time.Second, 6 * time.Second}, Tokens: 60, Hitters: true}
	short = scale{Students: 50, Duration: 20 * time.Second, Quota: 6, Think: [2]time.Duration{500 * time.Millisecond, 2 * time.Second}, Tokens: 30, Hitters: true}
)

func currentScale() scale {
	if os.Getenv("RELIABILITY") == "full" {
		return full
	}
	return short
}

// The fake model's pace: what a hosted model gives a short tutoring answer.
const (
	firstTokenDelay = 400 * time.Millisecond
	tokensPerSecond = 25
)
