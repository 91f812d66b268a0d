package chatkit

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

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

	limits          protocol.Limits
	maxSelection    int
	defaultPageSize int
	maxPageSize     int
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
	defaultMaxBody      = 1 << 20
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

// errorStatus maps errors to protocol errors; anything unknown is a 500
// whose cause is logged, not sent.
func (s *server) writeError(w http.ResponseWriter, err error) {
	var pe *protocol.Error
	switch {
	case errors.As(err, &pe):
	case errors.Is(err, errNotFound):
		pe = notFound("thread")
	case errors.Is(err, errBadCursor):
		pe = protocol.BadRequest("params.after does not name an element of this list")
	case errors.Is(err, store.ErrNotReady), errors.Is(err, context.DeadlineExceeded):
		pe = protocol.Errorf(http.StatusServiceUnavailable, "unavailable", "the database is not available")
		s.logger.Error("database unavailable", zap.Error(err))
	default:
		pe = protocol.Errorf(http.StatusInternalServerError, "internal", "internal error")
		s.logger.Error("chatkit request failed", zap.Error(err))
	}
	writeProtocolError(w, pe)
}

func writeProtocolError(w http.ResponseWriter, pe *protocol.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(pe.Status)
	_, _ = w.Write(pe.Body())
}

// notFound is the one answer for a missing thread and another user's thread.
func notFound(what string) *protocol.Error {
	return protocol.Errorf(http.StatusNotFound, "not_found", "%s not found", what)
}

func unsupported(op string) *protocol.Error {
	return protocol.Errorf(http.StatusBadRequest, "unsupported", "%s is not supported by this server", op)
}

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// serve answers one parsed request. Errors before the first response byte
// become JSON errors; streams report failures in-band.
func (s *server) serve(w http.ResponseWriter, r *http.Request, c *call) {
	db, err := s.db(r.Context())
	if err != nil {
		s.writeError(w, err)
		return
	}
	st := &storage{db: db}
	if protocol.IsStreaming(c.req.Type) {
		s.serveStream(w, r, st, c)
		return
	}
	if err := s.serveJSON(w, r.Context(), st, c); err != nil {
		s.writeError(w, err)
	}
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
	return pageQuery{after: p.After, limit: limit, desc: p.Order != "asc"}
}

func (s *server) serveJSON(w http.ResponseWriter, ctx context.Context, st *storage, c *call) error {
	owner := c.user.ID
	switch p := c.req.Params.(type) {
	case *protocol.ThreadIDParams:
		t, err := st.getThread(ctx, owner, p.ThreadID)
		if err != nil {
			return err
		}
		switch c.req.Type {
		case protocol.OpThreadsGetByID:
			th := t.wire()
			if th.Items, err = s.itemsPage(ctx, st, t.ID, pageQuery{limit: defaultPageSize}); err != nil {
				return err
			}
			return writeJSON(w, th)
		case protocol.OpThreadsDelete:
			if err := st.deleteThread(ctx, owner, t.ID); err != nil {
				return err
			}
			return writeJSON(w, struct{}{})
		}
		return unsupported(c.req.Type)
	case *protocol.CustomActionParams: // threads.sync_custom_action
		if _, err := st.getThread(ctx, owner, p.ThreadID); err != nil {
			return err
		}
		return unsupported(c.req.Type)
	case *protocol.ListParams:
		q := s.pageQuery(p)
		if c.req.Type == protocol.OpItemsList {
			if _, err := st.getThread(ctx, owner, p.ThreadID); err != nil {
				return err
			}
			page, err := s.itemsPage(ctx, st, p.ThreadID, q)
			if err != nil {
				return err
			}
			return writeJSON(w, page)
		}
		rows, more, err := st.listThreads(ctx, owner, q)
		if err != nil {
			return err
		}
		page := protocol.Page[*protocol.Thread]{Data: make([]*protocol.Thread, len(rows)), HasMore: more}
		for i, t := range rows {
			page.Data[i] = t.wire()
		}
		if more {
			page.After = rows[len(rows)-1].ID
		}
		return writeJSON(w, page)
	case *protocol.UpdateThreadParams:
		title := capBytes(strings.TrimSpace(p.Title), maxTitleBytes)
		if err := st.updateTitle(ctx, owner, p.ThreadID, title, s.now()); err != nil {
			return err
		}
		t, err := st.getThread(ctx, owner, p.ThreadID)
		if err != nil {
			return err
		}
		return writeJSON(w, t.wire())
	case *protocol.FeedbackParams:
		if _, err := st.getThread(ctx, owner, p.ThreadID); err != nil {
			return err
		}
		if len(p.ItemIDs) > s.maxPageSize {
			return protocol.BadRequest("at most %d item_ids per request", s.maxPageSize)
		}
		if err := st.recordFeedback(ctx, owner, p.ThreadID, p.ItemIDs, p.Kind, s.now()); err != nil {
			return err
		}
		return writeJSON(w, struct{}{})
	}
	// attachments.create, attachments.delete, input.transcribe.
	return unsupported(c.req.Type)
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
