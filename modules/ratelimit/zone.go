package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Zones keep two handlers from sharing counters by accident (see
// mholt/caddy-ratelimit#4: zones named by the operator alone collide). A
// handler without an explicit zone gets one derived from what it counts, its
// store and its key template, and a config in which two handlers derive the
// same zone is refused with a message asking for explicit names. Handlers
// that share a zone on purpose name it; they must then agree on the longest
// window, since each prunes what its own windows can no longer see.

// zoneUse is what one config generation knows about a zone.
type zoneUse struct {
	explicit bool
	window   time.Duration
}

var (
	zonesMu sync.Mutex
	// zonesByConfig maps a config generation (the context shared by all the
	// modules Caddy loads for one config) to the zones its handlers use.
	zonesByConfig = map[context.Context]map[string]zoneUse{}
)

// claimZone records that a handler of the config generation ctx uses zone,
// and refuses an accidental or inconsistent sharing.
func claimZone(ctx context.Context, storeKind, zone string, explicit bool, window time.Duration) error {
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
		used[id] = zoneUse{explicit: explicit, window: window}
		return nil
	case !explicit || !prev.explicit:
		return fmt.Errorf("two request_quota handlers would share the counters of zone %q; give each its own `zone <name>` (or the same name to share them on purpose)", zone)
	case prev.window != window:
		return fmt.Errorf("handlers sharing zone %q must have the same longest window (%s and %s)", zone, FormatWindow(prev.window), FormatWindow(window))
	}
	return nil
}

// derivedZone is the zone of a handler that names none.
func derivedZone(keyTemplate string) string { return "auto:" + keyTemplate }
