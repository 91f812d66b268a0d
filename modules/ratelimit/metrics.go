package ratelimit

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/intellistack/intellistack/internal/metrics"
)

// Decisions of request_quota, the values of the decision label.
const (
	decisionAdmit       = "admit"       // the limiter admitted the request
	decisionRefuse      = "refuse"      // over quota: 429 rate_limited
	decisionKeyMissing  = "key_missing" // the key did not resolve: 400 quota_key_missing
	decisionUnavailable = "unavailable" // the store did not answer: 503, or admitted under fail_open
)

// decisions counts request_quota's answers per zone. Exempt requests are not
// counted: no check runs for them. The zone is the configured name, or for a
// handler without one "auto:" and its key template (a template, never a
// key's value), so the label set is as small as the config.
var decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: metrics.Namespace,
	Subsystem: "ratelimit",
	Name:      "decisions_total",
	Help:      "Requests checked by request_quota, by zone and decision: admit, refuse (429 over quota), key_missing (400, the key did not resolve), unavailable (the quota store did not answer: 503, or admitted under fail_open).",
}, []string{"zone", "decision"})

// zoneCounters are one zone's decision counters, resolved once in Provision
// so that a request pays an atomic add, not a label lookup.
type zoneCounters struct {
	admit, refuse, keyMissing, unavailable prometheus.Counter
}

func countersFor(zone string) zoneCounters {
	return zoneCounters{
		admit:       decisions.WithLabelValues(zone, decisionAdmit),
		refuse:      decisions.WithLabelValues(zone, decisionRefuse),
		keyMissing:  decisions.WithLabelValues(zone, decisionKeyMissing),
		unavailable: decisions.WithLabelValues(zone, decisionUnavailable),
	}
}

// count adds one to c; a handler built without Provision (unit tests) has
// no counters and counts nothing.
func count(c prometheus.Counter) {
	if c != nil {
		c.Inc()
	}
}
