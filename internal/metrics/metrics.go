// Package metrics is how IntelliStack's modules publish Prometheus metrics
// through Caddy's registry, so that they show at the admin endpoint's
// /metrics (and at any `metrics` handler) beside Caddy's own.
//
// Caddy gives each config load a fresh registry (caddy.Context
// GetMetricsRegistry). A module's collectors are package-level values made
// once per process and registered into each new registry in Provision: a
// counter keeps counting across reloads, as an operator's rate() expects,
// and two instances of one module in a config share their collectors
// instead of failing on a duplicate registration.
//
// Label values must come from a small fixed set (a reason, a zone name, a
// module's configured name): never a user id, an e-mail, a path or a token.
package metrics

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every metric of the project: intellistack_<subsystem>_<name>.
const Namespace = "intellistack"

// Register adds collectors to the registry of the config being provisioned.
// A collector already there (another instance of the same module) is fine;
// a different collector under the same name is an error.
func Register(ctx caddy.Context, cs ...prometheus.Collector) error {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return nil // a context made outside a config load (some unit tests)
	}
	return RegisterTo(reg, cs...)
}

// RegisterTo is Register for a registry at hand (tests, or code that is
// given a prometheus.Registerer).
func RegisterTo(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) && are.ExistingCollector == c {
				continue
			}
			return err
		}
	}
	return nil
}
