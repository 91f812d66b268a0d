package mail

import (
	"context"
	"fmt"
	"net/mail"
	"time"

	"go.uber.org/zap"
)

// Queue persists messages and delivers them in the background, so a request
// that sends mail only writes a row: it never waits on a relay, and a
// restart or a relay outage loses nothing. Every node of a cluster may run
// the worker: a message is claimed with a lease before it is sent, so two
// nodes never send it at once, and a node that dies mid-send leaves a lease
// that expires into a retry.
type Queue struct {
	store  *queueStore
	sender Sender
	from   *mail.Address
	logger *zap.Logger
	now    func() time.Time
	wake   chan struct{}

	// MaxAttempts is how many deliveries are tried before a message is
	// dropped (default 12: about a day with the backoff below).
	MaxAttempts int
	// PollInterval is how often the worker looks for due messages besides
	// being woken by Enqueue (default 15 s).
	PollInterval time.Duration
	// Lease is how long a claimed message is reserved for one delivery; it
	// must exceed the sender's timeout (default 2 min).
	Lease time.Duration
}

// NewQueue returns a queue over db's oidc_mail_queue table.
func NewQueue(db DB, sender Sender, from *mail.Address, logger *zap.Logger, now func() time.Time) *Queue {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Queue{
		store: &queueStore{db: db}, sender: sender, from: from, logger: logger, now: now,
		wake: make(chan struct{}, 1), MaxAttempts: 12, PollInterval: 15 * time.Second, Lease: 2 * time.Minute,
	}
}

// From is the sender address messages carry.
func (q *Queue) From() *mail.Address { return q.from }

// Enqueue composes m and stores it for delivery; it returns once the row is
// written. A message that cannot be composed (a malformed recipient) is an
// error here, never a retry later.
func (q *Queue) Enqueue(ctx context.Context, m Message) error {
	to, raw, err := Compose(q.from, m, q.now())
	if err != nil {
		return err
	}
	if err := q.store.insert(ctx, randomID(), to.Address, raw, q.now()); err != nil {
		return fmt.Errorf("queueing mail: %v", err)
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run delivers due messages until ctx ends.
func (q *Queue) Run(ctx context.Context) {
	tick := time.NewTicker(q.PollInterval)
	defer tick.Stop()
	for {
		if _, err := q.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			q.logger.Warn("mail queue", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-q.wake:
		}
	}
}

// DeliverDue sends every message that is due now and returns how many were
// delivered. A failed delivery is rescheduled with exponential backoff (30 s,
// 1 min, 2 min, … capped at 4 h); after MaxAttempts the message is dropped
// and an error logged.
func (q *Queue) DeliverDue(ctx context.Context) (int, error) {
	sent := 0
	for {
		now := q.now()
		due, err := q.store.due(ctx, now, 16)
		if err != nil {
			return sent, err
		}
		if len(due) == 0 {
			return sent, nil
		}
		claimed := 0
		for _, m := range due {
			ok, err := q.store.claim(ctx, m, now.Add(q.Lease))
			if err != nil {
				return sent, err
			}
			if !ok {
				continue // another node took it
			}
			claimed++
			if q.deliver(ctx, m) {
				sent++
			}
		}
		if claimed == 0 {
			return sent, nil
		}
	}
}

func (q *Queue) deliver(ctx context.Context, m queued) bool {
	to, err := mail.ParseAddress(m.recipient)
	if err == nil {
		err = q.sender.Send(ctx, q.from, to, m.raw)
	}
	now := q.now()
	if err == nil {
		if derr := q.store.delete(ctx, m.id); derr != nil {
			q.logger.Warn("mail sent but not dequeued; it may be sent again", zap.String("id", m.id), zap.Error(derr))
		}
		return true
	}
	attempts := m.attempts + 1
	if attempts >= q.MaxAttempts {
		q.logger.Error("mail dropped after repeated failures", zap.String("id", m.id), zap.Int("attempts", attempts), zap.Error(err))
		_ = q.store.delete(ctx, m.id)
		return false
	}
	next := now.Add(backoff(attempts))
	q.logger.Warn("mail delivery failed; will retry", zap.String("id", m.id), zap.Int("attempts", attempts), zap.Time("next", next), zap.Error(err))
	if serr := q.store.reschedule(ctx, m.id, attempts, next, err.Error()); serr != nil {
		q.logger.Warn("mail queue", zap.Error(serr))
	}
	return false
}

// backoff is 30 s doubled per failed attempt, capped at 4 h.
func backoff(attempts int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempts && d < 4*time.Hour; i++ {
		d *= 2
	}
	return min(d, 4*time.Hour)
}
