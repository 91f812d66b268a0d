// Package chatkit is the ChatKit protocol server (`http.handlers.chatkit`):
// one POST endpoint that speaks the wire protocol of OpenAI's ChatKit client,
// stores threads and items per user in the shared database, and delegates
// replies to a responder guest module (`intellistack.responders.*`). It also
// provides the `chatkit_op` request matcher and the admin-only
// `chatkit_usage` endpoint.
package chatkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/internal/metrics"
	"github.com/intellistack/intellistack/modules/chatkit/protocol"
	"github.com/intellistack/intellistack/modules/chatkit/responder"
	"github.com/intellistack/intellistack/modules/store"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler serves the ChatKit protocol. Every operation is a POST of a JSON
// body {type, params, metadata}; streaming operations answer SSE, the others
// JSON. The owner of every thread is the request's identity (package
// identity: what bearer_jwt, basic_auth or another authentication handler
// before this one established); without one every request answers 401. Its
// roles, e-mail and claims reach the responder. Another user's thread
// answers exactly like a missing one.
//
// Page context (URL, title, headings, selected text, course, lesson stage)
// is read from the body's metadata.page or from X-Page-Url, X-Page-Title,
// X-Page-Headings, X-Page-Selection, X-Course, X-Lesson-Stage, X-Lesson
// headers, capped, passed to the responder and stored with the message.
type Handler struct {
	// ResponderRaw is the module that writes replies, from the
	// `intellistack.responders` namespace; `echo` is the deterministic one
	// for tests and trials. Required.
	//
	//	responder <name> { … }
	ResponderRaw json.RawMessage `json:"responder,omitempty" caddy:"namespace=intellistack.responders inline_key=name"`

	// MaxRequestBody caps the request body in bytes; larger bodies answer
	// 413. Default: 1 MiB. A chatkit_op matcher in front should read the
	// same amount (its max_request_body has the same default).
	//
	//	max_request_body <bytes>
	MaxRequestBody int64 `json:"max_request_body,omitempty"`

	// ReadTimeout bounds the time to receive the request body, counted
	// from when the handler starts reading it; a body still arriving then
	// answers 408. Caddy's own read_idle_timeout only bounds a stall, so a
	// client trickling a byte every few seconds would otherwise hold the
	// connection for as long as the body lasts. When a chatkit_op matcher
	// read the body, its read_timeout applied instead. Default: 10s.
	//
	//	read_timeout <duration>
	ReadTimeout caddy.Duration `json:"read_timeout,omitempty"`

	// ThreadOrder is how threads.list orders a user's threads: "created"
	// (by creation, as the ChatKit protocol and the reference server do) or
	// "activity" (by last activity, so a thread that just got a message
	// comes first: a history panel of recent conversations). The `after`
	// cursor pages in the same order. Default: created.
	//
	//	thread_order created|activity
	ThreadOrder string `json:"thread_order,omitempty"`

	// MaxInputBytes caps the text of one user message (all parts and the
	// quoted text); longer messages answer 413. Default: 16 KiB.
	//
	//	max_input <bytes>
	MaxInputBytes int `json:"max_input_bytes,omitempty"`

	// MaxSelectionBytes caps the selected text of the page context (longer
	// selections are cut). Default: 4000.
	//
	//	max_selection <bytes>
	MaxSelectionBytes int `json:"max_selection_bytes,omitempty"`

	// MaxStreamDuration ends a reply that streams longer than this; the
	// partial reply is kept and the client gets a retryable error event.
	// It also bounds streams that outlive a config reload. Default: 5m.
	//
	//	max_stream_duration <duration>
	MaxStreamDuration caddy.Duration `json:"max_stream_duration,omitempty"`

	// HistoryItems is how many recent items the responder gets. Default: 40.
	//
	//	history_items <n>
	HistoryItems int `json:"history_items,omitempty"`

	// MaxPageSize clamps the `limit` of threads.list and items.list (the
	// history panel asks for 9999). Default: 100.
	//
	//	max_page_size <n>
	MaxPageSize int `json:"max_page_size,omitempty"`

	// Retention deletes threads with no activity for this long (checked
	// hourly). Zero keeps threads forever. Example: `retention 180d`.
	//
	//	retention <duration>
	Retention caddy.Duration `json:"retention,omitempty"`

	app       *store.App
	db        *atomic.Pointer[store.DB]
	srv       *server
	responder responder.Responder
	logger    *zap.Logger
	now       func() time.Time
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.chatkit",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision loads the responder and finds the shared database.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.now == nil {
		h.now = time.Now
	}
	if h.ResponderRaw == nil {
		return errors.New("a responder is required (for trials: responder echo)")
	}
	mod, err := ctx.LoadModule(h, "ResponderRaw")
	if err != nil {
		return fmt.Errorf("loading responder: %v", err)
	}
	resp, ok := mod.(responder.Responder)
	if !ok {
		return fmt.Errorf("module %T is not a responder", mod)
	}
	h.responder = resp
	if err := metrics.Register(ctx, activeStreams, turns); err != nil {
		return err
	}
	app, err := store.GetApp(ctx)
	if err != nil {
		return err
	}
	h.app = app
	h.db = new(atomic.Pointer[store.DB])
	h.srv = h.newServer(h.database)
	if h.Retention > 0 {
		// The module context ends at reload: the next generation's sweeper
		// takes over, so exactly one runs per node.
		go h.sweep(ctx)
	}
	return nil
}

// database returns the shared handle, remembered once it is ready: after a
// reload, requests still in flight on this generation (an HTTP/2 connection
// keeps multiplexing onto the old server) must keep working although the
// old app has let go of its reference; the new generation holds the handle
// open.
func (h *Handler) database(ctx context.Context) (*store.DB, error) {
	if db := h.db.Load(); db != nil {
		return db, nil
	}
	db, err := h.app.DB(ctx)
	if err == nil {
		h.db.Store(db)
	}
	return db, err
}

// newServer builds the Caddy-free server from the config.
func (h *Handler) newServer(db func(context.Context) (*store.DB, error)) *server {
	s := &server{
		db: db, responder: h.responder, now: h.now, logger: h.logger, locks: newThreadLocks(),
		maxInput:        h.MaxInputBytes,
		maxSelection:    h.MaxSelectionBytes,
		defaultPageSize: defaultPageSize,
		maxPageSize:     h.MaxPageSize,
		historyItems:    h.HistoryItems,
		maxStream:       time.Duration(h.MaxStreamDuration),
		dbTimeout:       defaultDBTimeout,
		byActivity:      h.ThreadOrder == "activity",
	}
	if s.maxInput <= 0 {
		s.maxInput = defaultMaxInput
	}
	if s.maxPageSize <= 0 {
		s.maxPageSize = defaultMaxPageSize
	}
	if s.historyItems <= 0 {
		s.historyItems = defaultHistoryItems
	}
	if s.maxStream <= 0 {
		s.maxStream = defaultMaxStream
	}
	return s
}

// Validate checks the limits.
func (h *Handler) Validate() error {
	if h.MaxRequestBody < 0 || h.MaxInputBytes < 0 || h.MaxSelectionBytes < 0 || h.HistoryItems < 0 ||
		h.MaxPageSize < 0 || h.MaxStreamDuration < 0 || h.Retention < 0 || h.ReadTimeout < 0 {
		return errors.New("limits must not be negative")
	}
	switch h.ThreadOrder {
	case "", "created", "activity":
	default:
		return fmt.Errorf("thread_order %q: use created or activity", h.ThreadOrder)
	}
	return nil
}

// ServeHTTP answers a ChatKit request; it is a responder and never calls
// next.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		apierror.New(http.StatusMethodNotAllowed, "method_not_allowed", "ChatKit requests are POSTs").Write(w)
		return nil
	}
	user, ok := userFromRequest(r)
	if !ok {
		apierror.New(http.StatusUnauthorized, "unauthenticated", "sign in to use the chat").Write(w)
		return nil
	}
	req, err := h.readRequest(w, r)
	if err != nil {
		h.srv.writeError(w, err)
		return nil
	}
	page := pageContext(req.Page, r.Header, h.srv.maxSelection)
	h.srv.serve(w, r, &call{user: user, req: req, page: page, locale: r.Header.Get("Accept-Language")})
	return nil
}

// readRequest returns the parsed request: the parse chatkit_op left when it
// read the whole body, else a read and parse of its own.
func (h *Handler) readRequest(w http.ResponseWriter, r *http.Request) (*protocol.Request, error) {
	limit, timeout := h.MaxRequestBody, time.Duration(h.ReadTimeout)
	if limit <= 0 {
		limit = defaultMaxBody
	}
	if timeout <= 0 {
		timeout = defaultReadTimeout
	}
	rec := sharedBody(r)
	if rec == nil || rec.tooLarge {
		// Nothing read yet, or only a prefix (the matcher's limit is lower).
		rec = readBody(r, bodyDeadline(r, w), limit, timeout)
	}
	switch {
	case rec.err != nil:
		return nil, rec.readError()
	case rec.tooLarge || int64(len(rec.body)) > limit:
		return nil, apierror.New(http.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("the request body exceeds %d bytes", limit))
	}
	return rec.req, rec.parseErr
}

// sweep deletes inactive threads hourly until the module context ends.
func (h *Handler) sweep(ctx caddy.Context) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		db, err := h.app.DB(ctx)
		if err != nil {
			return // context ended before the database was ready
		}
		n, err := deleteInactive(ctx, db, h.now(), time.Duration(h.Retention))
		if err != nil && ctx.Err() == nil {
			h.logger.Error("retention sweep failed", zap.Error(err))
		} else if n > 0 {
			h.logger.Info("deleted inactive threads", zap.Int("threads", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// deleteInactive removes threads idle for longer than retention.
func deleteInactive(ctx context.Context, db *store.DB, now time.Time, retention time.Duration) (int, error) {
	return (&storage{db: db}).deleteInactive(ctx, now.Add(-retention), 500)
}

var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
