package ratelimit

import (
	"sync/atomic"
	"time"
)

// clockHook lets tests of the Caddy handler move time: the handler is built
// by Caddy, so its clock cannot be passed in. Nil (always, outside tests)
// means time.Now.
var clockHook atomic.Pointer[func() time.Time]

func handlerNow() time.Time {
	if f := clockHook.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}
