package storage

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// On PostgreSQL every get-session and every /token of better_auth_api is
// one query: the session by its token hash, joined with its user. Front
// ends poll get-session, so under load many of these queries wait on one
// another for the network round trip and for PostgreSQL's turn. Session
// lookups are therefore coalesced: a lookup that finds none running goes
// at once, alone, as before; lookups that arrive while one is running
// wait for it to end and then go together, in one query (token_hash =
// ANY($1)). Nothing is cached: each lookup reads the database after it
// was asked, so it never sees a session older than its own request.
// SQLite reads are in-process and gain nothing from this.

// maxSessionBatch bounds the hashes of one query; more waiting lookups
// go in the next.
const maxSessionBatch = 64

// sessionLookupTimeout bounds a lookup query: it runs for several
// requests, so no single request's context can end it.
const sessionLookupTimeout = 10 * time.Second

const sessionWithUserColumns = userColumns + ", s.id, s.auth_time, s.expires_at, s.ip_address, s.user_agent, s.created_at"

const sessionsJoinUsers = " FROM sessions s JOIN users u ON u.id = s.user_id"

const (
	sessionWithUserQuery  = "SELECT " + sessionWithUserColumns + sessionsJoinUsers + " WHERE s.token_hash = $1"
	sessionsWithUserQuery = "SELECT " + sessionWithUserColumns + ", s.token_hash" + sessionsJoinUsers + " WHERE s.token_hash = ANY($1)"
)

// sessionLookups coalesces the session lookups of one PostgreSQL pool;
// one lives per database handle (store.DB.Shared).
type sessionLookups struct {
	pool *pgxpool.Pool

	mu      sync.Mutex
	running bool             // a query is in flight
	waiting []*sessionLookup // lookups for the next query
}

// sessionLookupsKey is sessionLookups' key in store.DB.Shared.
type sessionLookupsKey struct{}

// sessionLookup is one request's lookup and, once done is closed, its
// answer.
type sessionLookup struct {
	hash string
	sess *Session
	user *User
	err  error
	done chan struct{}
	// lead receives the batch this lookup's goroutine is to run (itself
	// among them) when the query before it ends.
	lead chan []*sessionLookup
}

// find returns the session with this token hash and its user, or
// ErrNotFound; expiry is the caller's to check.
func (b *sessionLookups) find(hash string) (*Session, *User, error) {
	l := &sessionLookup{hash: hash, done: make(chan struct{})}
	b.mu.Lock()
	if !b.running {
		b.running = true
		b.mu.Unlock()
		b.run([]*sessionLookup{l})
		return l.sess, l.user, l.err
	}
	l.lead = make(chan []*sessionLookup, 1)
	b.waiting = append(b.waiting, l)
	b.mu.Unlock()
	// No select on the request's context: the waiter may be handed the
	// next batch to run, and the query it waits for is bounded by
	// sessionLookupTimeout.
	select {
	case <-l.done:
	case batch := <-l.lead:
		b.run(batch)
	}
	return l.sess, l.user, l.err
}

// run queries batch, answers each lookup, then hands the lookups that
// arrived meanwhile to the first of them, whose goroutine runs them.
func (b *sessionLookups) run(batch []*sessionLookup) {
	ctx, cancel := context.WithTimeout(context.Background(), sessionLookupTimeout)
	if len(batch) == 1 {
		l := batch[0]
		l.sess, l.user, l.err = scanSessionWithUser(b.pool.QueryRow(ctx, sessionWithUserQuery, l.hash))
	} else {
		b.query(ctx, batch)
	}
	cancel()
	for _, l := range batch {
		close(l.done)
	}

	b.mu.Lock()
	next := b.waiting
	if len(next) > maxSessionBatch {
		next, b.waiting = next[:maxSessionBatch:maxSessionBatch], next[maxSessionBatch:]
	} else {
		b.waiting = nil
	}
	if len(next) == 0 {
		b.running = false
	}
	b.mu.Unlock()
	if len(next) > 0 {
		next[0].lead <- next
	}
}

// query answers a batch in one query. Lookups of the same hash (one
// browser's concurrent polls) each get their own copies.
func (b *sessionLookups) query(ctx context.Context, batch []*sessionLookup) {
	byHash := make(map[string][]*sessionLookup, len(batch))
	hashes := make([]string, 0, len(batch))
	for _, l := range batch {
		if _, seen := byHash[l.hash]; !seen {
			hashes = append(hashes, l.hash)
		}
		byHash[l.hash] = append(byHash[l.hash], l)
	}
	fail := func(err error) {
		for _, l := range batch {
			l.sess, l.user, l.err = nil, nil, err
		}
	}
	rows, err := b.pool.Query(ctx, sessionsWithUserQuery, hashes)
	if err != nil {
		fail(err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var hash string
		sess, u, err := scanSessionWithUser(rows, &hash)
		if err != nil {
			fail(err)
			return
		}
		for i, l := range byHash[hash] {
			if i > 0 {
				sess, u = copySessionWithUser(sess, u)
			}
			l.sess, l.user = sess, u
		}
	}
	if err := rows.Err(); err != nil {
		fail(err)
		return
	}
	for _, l := range batch {
		if l.sess == nil {
			l.err = ErrNotFound
		}
	}
}

// scanSessionWithUser reads sessionWithUserColumns, then extra.
func scanSessionWithUser(row scanner, extra ...any) (*Session, *User, error) {
	var sess Session
	var authTime, expires, created int64
	u, err := scanUser(row, append([]any{&sess.ID, &authTime, &expires, &sess.IP, &sess.UserAgent, &created}, extra...)...)
	if err != nil {
		return nil, nil, err
	}
	sess.UserID, sess.AuthTime, sess.ExpiresAt, sess.CreatedAt = u.ID, fromMS(authTime), fromMS(expires), fromMS(created)
	return &sess, u, nil
}

func copySessionWithUser(s *Session, u *User) (*Session, *User) {
	s2, u2 := *s, *u
	u2.Claims = maps.Clone(u.Claims)
	return &s2, &u2
}
