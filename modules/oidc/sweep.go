package oidc

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// sweepEvery is how often expired rows are deleted. Every node sweeps; the
// deletes are idempotent, so nodes need not coordinate.
const sweepEvery = 10 * time.Minute

// sweep deletes expired codes, pending requests, tokens and sessions until
// ctx (the module's context) ends at the next reload. Used refresh tokens
// are kept until they expire: they are what reuse detection looks for.
//
// The same loop keeps the signing keys current every minute, so the next
// key is created and published a full lead time before it signs even when
// no request arrives in that window.
func (p *provider) sweep(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	k := time.NewTicker(keyRefresh)
	defer k.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.C:
			if _, _, err := p.keys.published(ctx); err != nil && ctx.Err() == nil {
				p.logger.Error("maintaining signing keys", zap.Error(err))
			}
		case <-t.C:
			p.sweepOnce(ctx)
		}
	}
}

func (p *provider) sweepOnce(ctx context.Context) {
	st, err := p.storage(ctx)
	if err != nil {
		return
	}
	if err := st.DeleteExpired(ctx, p.now()); err != nil && ctx.Err() == nil {
		p.logger.Warn("sweeping expired rows", zap.Error(err))
	}
}
