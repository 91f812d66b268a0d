package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Zones keep two handlers from sharing counters by accident (see
// mholt/caddy-ratelimit#4: zones named by the operator alone collide). A
// handler without an explicit zone gets one derived from its key template.
// Within one config, handlers that derive the same zone must have the same
// settings: then they are the same quota (Caddy itself copies a site's routes
// into each server when the site listens on several addresses) and count
// together; with different settings the config is refused with a message
// asking for explicit zones. Handlers that share a named zone on purpose must
// agree on the longest window, since each prunes what its own windows can no
// longer see. The zone does not depend on the limits, so a reload that
// changes a limit keeps the counts.

// zoneUse is what one config generation knows about a zone.
type zoneUse struct {
	explicit    bool
	window      time.Duration
	fingerprint string // the settings of a derived zone's handlers
}

var (
	zonesMu sync.Mutex
	// zonesByConfig maps a config generation (the context shared by all the
	// modules Caddy loads for one config) to the zones its handlers use.
	zonesByConfig = map[context.Context]map[string]zoneUse{}
)

// claimZone records that a handler of the config generation ctx uses zone,
// and refuses an accidental or inconsistent sharing.
func claimZone(ctx context.Context, storeKind, zone string, explicit bool, window time.Duration, fingerprint string) error {
	zonesMu.Lock()
	defer zonesMu.Unlock()
	used, ok := zonesByConfig[ctx]
	if !ok {
		used = map[string]zoneUse{}
		zonesByConfig[ctx] = used
		context.AfterFunc(ctx, func() {
			zonesMu.Lock()
			delete(zonesByConfig, ctx)
			zonesMu.Unlock()
		})
	}
	id := storeKind + "\x00" + zone
	prev, seen := used[id]
	switch {
	case !seen:
		used[id] = zoneUse{explicit: explicit, window: window, fingerprint: fingerprint}
		return nil
	case !explicit && !prev.explicit && fingerprint == prev.fingerprint:
		return nil // the same quota, in two places
	case !explicit || !prev.explicit:
		return fmt.Errorf("two request_quota handlers with different settings would share the counters of zone %q; give each its own `zone <name>` (or the same name to share them on purpose)", zone)
	case prev.window != window:
		return fmt.Errorf("handlers sharing zone %q must have the same longest window (%s and %s)", zone, FormatWindow(prev.window), FormatWindow(window))
	}
	return nil
}

// derivedZone is the zone of a handler that names none.
func derivedZone(keyTemplate string) string { return "auto:" + keyTemplate }
