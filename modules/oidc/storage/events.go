package storage

import (
	"context"
	"time"
)

// Event is one row of the audit log, auth_events: a sign-up, sign-in
// (success or failure), sign-out, token issue, refresh, revocation or
// detected reuse. Detail must hold no secret.
type Event struct {
	ID        string // given by RecordEvent when empty
	CreatedAt time.Time
	Event     string // sign_up, sign_in, token_issued, …
	Outcome   string // success or failure
	UserID    string
	Email     string
	ClientID  string
	IP        string
	UserAgent string
	Detail    string
	ActorID   string // who acted on the user: an admin's id, "cli", or "" for the user themself
}

// Events is the audit log.
type Events interface {
	// RecordEvent appends e to the audit log.
	RecordEvent(ctx context.Context, e Event) error
}

// RecordEvent implements Events.
func (s *SQL) RecordEvent(ctx context.Context, e Event) error {
	if e.ID == "" {
		e.ID = NewID()
	}
	_, err := s.db.Exec(ctx, `INSERT INTO auth_events (id, created_at, event, outcome, user_id, email, client_id, ip, user_agent, detail, actor_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, ms(e.CreatedAt), e.Event, e.Outcome, e.UserID, e.Email, e.ClientID,
		e.IP, e.UserAgent, e.Detail, e.ActorID)
	return err
}
