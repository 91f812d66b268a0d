package chatkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/modules/chatkit/protocol"
	"github.com/intellistack/intellistack/modules/chatkit/responder"
	"github.com/intellistack/intellistack/modules/store"
)

// server is the ChatKit protocol server without Caddy: one request in, a JSON
// answer or an SSE stream out. The Caddy handler resolves the user, reads the
// body and hands both over.
type server struct {
	db        func(ctx context.Context) (*store.DB, error)
	responder responder.Responder
	now       func() time.Time
	logger    *zap.Logger
	locks     *threadLocks
	batch     atomic.Pointer[batcher]

	maxInput        int
	maxSelection    int
	defaultPageSize int
	maxPageSize     int
	byActivity      bool // threads.list by last activity (thread_order activity)
	historyItems    int
	maxStream       time.Duration
	dbTimeout       time.Duration
}

// Defaults.
const (
	defaultPageSize     = 20 // the reference's DEFAULT_PAGE_SIZE
	defaultMaxPageSize  = 100
	defaultHistoryItems = 40
	defaultMaxInput     = 16 << 10
	defaultMaxStream    = 5 * time.Minute
	defaultDBTimeout    = 10 * time.Second
	cancelledNote       = "The user stopped the previous reply before it finished. Do not continue it unless they ask."
)

// call is one request as the server sees it.
type call struct {
	user responder.User
	req  *protocol.Request
	page responder.PageContext
	// locale is Accept-Language.
	locale string
}

// checkInput refuses a message longer than max_input.
func (s *server) checkInput(in protocol.UserMessageInput) error {
	if n := in.Size(); n > s.maxInput {
		return apierror.New(http.StatusRequestEntityTooLarge, "input_too_large",
			fmt.Sprintf("the message is %d bytes; at most %d are accepted", n, s.maxInput))
	}
	return nil
}

// writeError answers err as a platform error; anything unknown is a 500
// whose cause is logged, not sent.
func (s *server) writeError(w http.ResponseWriter, err error) {
	var ae *apierror.Error
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, errNotFound):
		ae = notFound("thread")
	case errors.Is(err, errBadCursor):
		ae = protocol.BadRequest("params.after does not name an element of this list")
	case errors.Is(err, store.ErrNotReady), errors.Is(err, context.DeadlineExceeded), store.Unavailable(err):
		// A database restarting or unreachable, a disk full: the client may
		// try again shortly; nothing was half-written (one transaction).
		ae = apierror.New(http.StatusServiceUnavailable, "unavailable", "the database is not available")
		s.logger.Error("database unavailable", zap.Error(err))
	default:
		ae = apierror.New(http.StatusInternalServerError, "internal", "internal error")
		s.logger.Error("chatkit request failed", zap.Error(err))
	}
	ae.Write(w)
}

// notFound is the one answer for a missing thread and another user's thread.
func notFound(what string) *apierror.Error {
	return apierror.New(http.StatusNotFound, "not_found", what+" not found")
}

func unsupported(op string) *apierror.Error {
	return apierror.New(http.StatusBadRequest, "unsupported", op+" is not supported by this server")
}

// writeOK answers 200 with v as JSON. Not apierror.JSON: the ChatKit
// reference answers deletes and feedback with exactly {}, no newline.
func writeOK(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		apierror.New(http.StatusInternalServerError, "internal", "internal error").Write(w)
		return
	}
	apierror.WriteRaw(w, http.StatusOK, b)
}

// serve answers one parsed request through the dispatch table. Errors
// before the first response byte become JSON errors; streams report
// failures in-band.
func (s *server) serve(w http.ResponseWriter, r *http.Request, c *call) {
	op := operations[c.req.Type]
	db, err := s.db(r.Context())
	if err != nil {
		s.writeError(w, err)
		return
	}
	st := &storage{db: db, batch: s.batcher(db)}
	if op.prepare != nil {
		s.serveStream(w, r, st, c, op.prepare)
		return
	}
	v, err := op.answer(s, r.Context(), st, c)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeOK(w, v)
}

// batcher returns the group-commit queue of db (one per server and
// database handle), nil on PostgreSQL.
func (s *server) batcher(db *store.DB) *batcher {
	if db.Dialect() != store.SQLite {
		return nil
	}
	if b := s.batch.Load(); b != nil && b.db == db {
		return b
	}
	b := newBatcher(db, s.dbTimeout)
	s.batch.Store(b)
	return b
}

// pageQuery validates paging params: a null or 0 limit is the default, a
// huge one is clamped (the history panel asks for 9999).
func (s *server) pageQuery(p *protocol.ListParams) pageQuery {
	limit := p.Limit
	if limit == 0 {
		limit = s.defaultPageSize
	}
	if limit > s.maxPageSize {
		limit = s.maxPageSize
	}
	return pageQuery{after: p.After, limit: limit, desc: p.Order != "asc", byActivity: s.byActivity}
}

// getThread answers threads.get_by_id: the thread with its first page of
// visible items, oldest first.
func (s *server) getThread(ctx context.Context, st *storage, c *call, p *protocol.ThreadIDParams) (*protocol.Thread, error) {
	t, err := st.getThread(ctx, c.user.ID, p.ThreadID)
	if err != nil {
		return nil, err
	}
	th := t.wire()
	if th.Items, err = s.itemsPage(ctx, st, t.ID, pageQuery{limit: defaultPageSize}); err != nil {
		return nil, err
	}
	return th, nil
}

// deleteThread answers threads.delete with {}.
func (s *server) deleteThread(ctx context.Context, st *storage, c *call, p *protocol.ThreadIDParams) (struct{}, error) {
	return struct{}{}, st.deleteThread(ctx, c.user.ID, p.ThreadID)
}

// listThreads answers threads.list; the threads carry no items.
func (s *server) listThreads(ctx context.Context, st *storage, c *call, p *protocol.ListParams) (protocol.Page[*protocol.Thread], error) {
	rows, more, err := st.listThreads(ctx, c.user.ID, s.pageQuery(p))
	if err != nil {
		return protocol.Page[*protocol.Thread]{}, err
	}
	page := protocol.Page[*protocol.Thread]{Data: make([]*protocol.Thread, len(rows)), HasMore: more}
	for i, t := range rows {
		page.Data[i] = t.wire()
	}
	if more {
		page.After = rows[len(rows)-1].ID
	}
	return page, nil
}

// listItems answers items.list.
func (s *server) listItems(ctx context.Context, st *storage, c *call, p *protocol.ListParams) (protocol.Page[protocol.Item], error) {
	if _, err := st.getThread(ctx, c.user.ID, p.ThreadID); err != nil {
		return protocol.Page[protocol.Item]{}, err
	}
	return s.itemsPage(ctx, st, p.ThreadID, s.pageQuery(p))
}

// updateThread answers threads.update (a rename) with the thread.
func (s *server) updateThread(ctx context.Context, st *storage, c *call, p *protocol.UpdateThreadParams) (*protocol.Thread, error) {
	title := capBytes(strings.TrimSpace(p.Title), maxTitleBytes)
	if err := st.updateTitle(ctx, c.user.ID, p.ThreadID, title, s.now()); err != nil {
		return nil, err
	}
	t, err := st.getThread(ctx, c.user.ID, p.ThreadID)
	if err != nil {
		return nil, err
	}
	return t.wire(), nil
}

// feedback answers items.feedback with {}.
func (s *server) feedback(ctx context.Context, st *storage, c *call, p *protocol.FeedbackParams) (struct{}, error) {
	if _, err := st.getThread(ctx, c.user.ID, p.ThreadID); err != nil {
		return struct{}{}, err
	}
	if len(p.ItemIDs) > s.maxPageSize {
		return struct{}{}, protocol.BadRequest("at most %d item_ids per request", s.maxPageSize)
	}
	return struct{}{}, st.recordFeedback(ctx, c.user.ID, p.ThreadID, p.ItemIDs, p.Kind, s.now())
}

// itemsPage loads a page of visible items in wire form.
func (s *server) itemsPage(ctx context.Context, st *storage, threadID string, q pageQuery) (protocol.Page[protocol.Item], error) {
	bodies, ids, more, err := st.listItems(ctx, threadID, q)
	if err != nil {
		return protocol.Page[protocol.Item]{}, err
	}
	page := protocol.Page[protocol.Item]{Data: make([]protocol.Item, len(bodies)), HasMore: more}
	for i, b := range bodies {
		page.Data[i] = &protocol.RawItem{ID: ids[i], JSON: b}
	}
	if more {
		page.After = ids[len(ids)-1]
	}
	return page, nil
}
