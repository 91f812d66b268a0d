package ratelimit

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/metrics"
)

// Every answer of the handler is counted once, under its zone, with the
// decision that produced it.
func TestDecisionsCounted(t *testing.T) {
	t.Parallel()
	zone := "metrics-unit-" + t.Name()
	l, _ := NewMemoryLimiter(Config{Zone: zone, Limits: []Limit{{1, time.Minute}}})
	defer l.Close()
	h := &Handler{Key: "{http.auth.user.id}", limiter: l, logger: zap.NewNop(), counts: countersFor(zone)}
	serve(h, "u") // admitted
	serve(h, "u") // over quota
	serve(h, "")  // no key
	h.limiter = brokenLimiter{}
	serve(h, "u") // store down, refused
	h.FailOpen = true
	serve(h, "u") // store down, admitted anyway
	want := map[string]float64{decisionAdmit: 1, decisionRefuse: 1, decisionKeyMissing: 1, decisionUnavailable: 2}
	for d, n := range want {
		if got := promtest.ToFloat64(decisions.WithLabelValues(zone, d)); got != n {
			t.Errorf("decision %s = %v, want %v", d, got, n)
		}
	}
	// The collector registers into a fresh registry (a reload) and lints clean.
	reg := prometheus.NewPedanticRegistry()
	if err := metrics.RegisterTo(reg, decisions); err != nil {
		t.Fatal(err)
	}
	if problems, err := promtest.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}
