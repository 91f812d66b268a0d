package chatkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/modules/chatkit/protocol"
	"github.com/intellistack/intellistack/modules/chatkit/responder"
)

// turn is everything prepared before the stream starts: every check that
// can fail runs first, so failures are still proper HTTP errors (the ChatKit
// reference cannot do that once its stream has begun).
type turn struct {
	thread  *threadRow
	created bool                      // threads.create: send thread.created
	user    *protocol.UserMessageItem // new user item to announce (create, add)
	// userJSON is user's wire JSON, encoded once for the row and the stream
	// (nil: the stream encodes user).
	userJSON []byte
	input    *protocol.UserMessageItem // responder input (nil after a tool call)
	retry    bool
	action   *protocol.CustomActionParams
	history  []protocol.Item
	page     responder.PageContext
}

// serveStream runs a streaming operation: prepare, then the SSE answer.
func (s *server) serveStream(w http.ResponseWriter, r *http.Request, st *storage, c *call,
	prepare func(*server, context.Context, *storage, *call) (*turn, error)) {
	ctx := r.Context()
	// One turn at a time per thread on this node: a second message while a
	// reply streams would interleave items.
	if on, ok := c.req.Params.(protocol.OnThread); ok {
		unlock, err := s.locks.lock(ctx, on.Thread())
		if err != nil {
			return // client gone while waiting
		}
		defer unlock()
	}
	t, err := prepare(s, ctx, st, c)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if t.page.Empty() {
		m := t.thread.Metadata
		t.page = responder.PageContext{URL: m.URL, Title: m.Title, Course: m.Course, Stage: m.Stage, Lesson: m.Lesson}
	}
	s.stream(w, r, st, c, t)
}

// startThread prepares threads.create: the thread and the user's message
// are stored in one transaction.
func (s *server) startThread(ctx context.Context, st *storage, c *call, p *protocol.ThreadCreateParams) (*turn, error) {
	if err := s.checkInput(p.Input); err != nil {
		return nil, err
	}
	if len(p.Input.Attachments) > 0 {
		return nil, unsupported("attachments")
	}
	now := s.now()
	t := &turn{page: c.page, created: true}
	t.thread = &threadRow{
		ID: protocol.NewID("thr"), Owner: c.user.ID, CreatedAt: now.UnixMilli(), LastActivityAt: now.UnixMilli(),
		Status: protocol.Status{Type: protocol.StatusActive},
		Metadata: ThreadMetadata{Course: c.page.Course, Stage: c.page.Stage, Lesson: c.page.Lesson,
			URL: c.page.URL, Title: c.page.Title},
	}
	t.user = s.userItem(t.thread.ID, p.Input, now)
	var err error
	if t.userJSON, err = protocol.MarshalItem(t.user); err != nil {
		return nil, err
	}
	if err := st.createThread(ctx, t.thread, t.user, t.userJSON, pageJSON(c.page)); err != nil {
		return nil, err
	}
	t.input = t.user
	return t, nil
}

// addUserMessage prepares threads.add_user_message: one transaction
// checks the thread and stores the message; the history (when the responder
// reads it) is what came before.
func (s *server) addUserMessage(ctx context.Context, st *storage, c *call, p *protocol.AddUserMessageParams) (*turn, error) {
	if err := s.checkInput(p.Input); err != nil {
		return nil, err
	}
	now := s.now()
	user := s.userItem(p.ThreadID, p.Input, now)
	userJSON, err := protocol.MarshalItem(user)
	if err != nil {
		return nil, err
	}
	th, seq, err := st.appendUserMessage(ctx, c.user.ID, p.ThreadID, user, userJSON, now, pageJSON(c.page), func(th *threadRow) error {
		if err := checkOpen(th); err != nil {
			return err
		}
		if len(p.Input.Attachments) > 0 {
			return unsupported("attachments")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t := &turn{page: c.page, thread: th, user: user, userJSON: userJSON, input: user}
	if t.history, err = s.history(ctx, st, th.ID, seq); err != nil {
		return nil, err
	}
	return t, nil
}

// retryAfterItem prepares threads.retry_after_item: the items after the
// user message go, and the responder answers that message again.
func (s *server) retryAfterItem(ctx context.Context, st *storage, c *call, p *protocol.RetryAfterItemParams) (*turn, error) {
	th, err := s.openThread(ctx, st, c.user.ID, p.ThreadID)
	if err != nil {
		return nil, err
	}
	it, err := st.getItem(ctx, th.ID, p.ItemID)
	if errors.Is(err, errNotFound) || (err == nil && protocol.Hidden(it.Item.ItemType())) {
		return nil, notFound("item")
	}
	if err != nil {
		return nil, err
	}
	um, ok := it.Item.(*protocol.UserMessageItem)
	if !ok {
		return nil, protocol.BadRequest("params.item_id must name a user message")
	}
	if err := st.deleteItemsAfter(ctx, th.ID, it.Seq); err != nil {
		return nil, err
	}
	t := &turn{page: c.page, thread: th, input: um, retry: true}
	if t.history, err = s.history(ctx, st, th.ID, it.Seq); err != nil {
		return nil, err
	}
	return t, nil
}

// addClientToolOutput prepares threads.add_client_tool_output: the newest
// item must be a pending client tool call, which the output completes.
func (s *server) addClientToolOutput(ctx context.Context, st *storage, c *call, p *protocol.AddClientToolOutputParams) (*turn, error) {
	th, err := s.openThread(ctx, st, c.user.ID, p.ThreadID)
	if err != nil {
		return nil, err
	}
	recent, err := st.recentItems(ctx, th.ID, 1, 0)
	if err != nil {
		return nil, err
	}
	var call *protocol.ClientToolCallItem
	if len(recent) == 1 {
		call, _ = recent[0].Item.(*protocol.ClientToolCallItem)
	}
	if call == nil || call.Status == "completed" {
		return nil, apierror.New(http.StatusConflict, "no_pending_tool_call", "the thread has no pending client tool call")
	}
	call.Status, call.Output = "completed", p.Result
	if err := st.saveItem(ctx, th.ID, call, s.now()); err != nil {
		return nil, err
	}
	t := &turn{page: c.page, thread: th}
	if t.history, err = s.history(ctx, st, th.ID, 0); err != nil {
		return nil, err
	}
	return t, nil
}

// customAction prepares threads.custom_action, for responders that handle
// widget actions.
func (s *server) customAction(ctx context.Context, st *storage, c *call, p *protocol.CustomActionParams) (*turn, error) {
	th, err := s.openThread(ctx, st, c.user.ID, p.ThreadID)
	if err != nil {
		return nil, err
	}
	if _, ok := s.responder.(responder.ActionHandler); !ok {
		return nil, unsupported(c.req.Type)
	}
	if p.ItemID != "" {
		if _, err := st.getItem(ctx, th.ID, p.ItemID); err != nil {
			if errors.Is(err, errNotFound) {
				return nil, notFound("item")
			}
			return nil, err
		}
	}
	t := &turn{page: c.page, thread: th, action: p}
	if t.history, err = s.history(ctx, st, th.ID, 0); err != nil {
		return nil, err
	}
	return t, nil
}

// pageJSON is the stored form of a message's page context (nil if none).
func pageJSON(p responder.PageContext) []byte {
	if p.Empty() {
		return nil
	}
	b, _ := json.Marshal(p)
	return b
}

// openThread loads a thread that may receive a new turn.
func (s *server) openThread(ctx context.Context, st *storage, owner, id string) (*threadRow, error) {
	th, err := st.getThread(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	return th, checkOpen(th)
}

// checkOpen refuses a new turn on a locked or closed thread.
func checkOpen(th *threadRow) error {
	if th.Status.Type == protocol.StatusLocked || th.Status.Type == protocol.StatusClosed {
		return apierror.New(http.StatusConflict, "thread_"+th.Status.Type, "the thread is "+th.Status.Type)
	}
	return nil
}

// historyLimit is how many items the responder gets as history: the
// history_items setting, or fewer when the responder says it reads fewer.
func (s *server) historyLimit() int {
	n := s.historyItems
	if hs, ok := s.responder.(responder.HistorySizer); ok {
		n = max(min(n, hs.HistoryItems()), 0)
	}
	return n
}

// history returns the latest items, oldest first, before the item with
// sequence number before (0: the latest of all). It loads nothing for a
// responder that reads no history.
func (s *server) history(ctx context.Context, st *storage, threadID string, before int64) ([]protocol.Item, error) {
	n := s.historyLimit()
	if n == 0 {
		return []protocol.Item{}, nil
	}
	rows, err := st.recentItems(ctx, threadID, n, before)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.Item, len(rows))
	for i, r := range rows {
		out[i] = r.Item
	}
	return out, nil
}

func (s *server) userItem(threadID string, in protocol.UserMessageInput, now time.Time) *protocol.UserMessageItem {
	return &protocol.UserMessageItem{
		ID: protocol.NewID("msg"), ThreadID: threadID, CreatedAt: protocol.NewTime(now),
		Content: in.Content, Attachments: []json.RawMessage{}, QuotedText: in.QuotedText,
		InferenceOptions: in.InferenceOptions,
	}
}

// stream runs the SSE part of a turn.
func (s *server) stream(w http.ResponseWriter, r *http.Request, st *storage, c *call, t *turn) {
	activeStreams.Inc()
	defer activeStreams.Dec()
	begin := s.now()
	sse, err := protocol.StartSSE(w)
	// Request work runs on the request's context (cancelled when the client
	// goes), never on the module's, which a config reload cancels.
	ctx, cancel := context.WithTimeout(r.Context(), s.maxStream)
	defer cancel()
	ss := &session{srv: s, st: st, sse: sse, ctx: ctx, thread: t.thread, owner: c.user.ID, op: c.req.Type,
		pending: map[string]*pendingMessage{}, begin: begin, writeErr: err}
	if t.user != nil {
		ss.usage.Messages = 1
	}
	if t.created {
		ss.write(protocol.ThreadCreated{Thread: t.thread.wire()})
	}
	switch {
	case t.userJSON != nil:
		ss.writeDone(t.userJSON)
	case t.user != nil:
		ss.write(protocol.ItemDone{Item: t.user})
	}
	ss.write(protocol.StreamOptions{AllowCancel: true})

	req := &responder.Request{
		ThreadID: t.thread.ID, Title: t.thread.Title, History: t.history, Input: t.input, Retry: t.retry,
		User: c.user, Page: t.page, Locale: c.locale,
	}
	if ss.writeErr == nil {
		if t.action != nil {
			err = s.responder.(responder.ActionHandler).HandleAction(ctx, req, t.action.Action, t.action.ItemID, ss)
		} else {
			err = s.responder.Respond(ctx, req, ss)
		}
	}
	ss.finish(r.Context(), err)
	// The handler may not return before the last frame is written: the
	// end of the response flushes it with the end of the body.
	_ = sse.Close()
}

// session is the Stream a responder writes to: it keeps items as their done
// events pass and stores them, with the new title and the turn's usage, in
// one transaction when the turn ends (before the response ends, so a
// client's next request sees them); it remembers pending assistant messages
// for cancellation, and writes one SSE frame per event.
type session struct {
	srv      *server
	st       *storage
	sse      *protocol.SSEWriter
	ctx      context.Context
	thread   *threadRow
	owner    string
	op       string // the request's type, for the turn's log line
	pending  map[string]*pendingMessage
	order    []string // pending ids in the order they were added
	begin    time.Time
	first    time.Time // first text delta
	writeErr error
	titleSet bool    // announce the title after the current event
	newTitle *string // a title to store
	done     []finishedItem
	usage    usageDelta
	report   responder.TurnReport // the responder's, for the log line
}

// doneLinger is how long a done item may wait for the end of the turn
// (or the next event) to share its write: short enough that a responder
// which goes on working is not seen to stall.
const doneLinger = 25 * time.Millisecond

// maxKeptItems bounds the done items a session holds before it stores them
// ahead of the turn's end, so a responder emitting many items keeps a
// bounded amount of work per transaction.
const maxKeptItems = 32

var errStreamClosed = errors.New("chatkit: the stream is closed")

// dbCtx bounds a write that must complete even when the client has gone:
// an item whose done event was produced is stored.
func (ss *session) dbCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ss.ctx), ss.srv.dbTimeout)
}

func (ss *session) write(ev protocol.Event) {
	if ss.writeErr != nil {
		return
	}
	ss.writeErr = ss.sse.Write(ev)
}

// Emit implements responder.Stream.
func (ss *session) Emit(ev protocol.Event) error {
	if err := ss.ctx.Err(); err != nil {
		return err
	}
	if ss.writeErr != nil {
		return ss.writeErr
	}
	now := ss.srv.now()
	send := true
	switch e := ev.(type) {
	case protocol.ItemAdded:
		if e.Item == nil || e.Item.ItemID() == "" {
			return errors.New("chatkit: thread.item.added needs an item with an id")
		}
		if am, ok := e.Item.(*protocol.AssistantMessageItem); ok {
			ss.fill(am, now)
			ss.pending[am.ID] = &pendingMessage{item: am.Clone()}
			ss.order = append(ss.order, am.ID)
		}
		send = !protocol.Hidden(e.Item.ItemType())
	case protocol.ItemUpdated:
		if p := ss.pending[e.ItemID]; p != nil {
			p.apply(e.Update)
		}
		if _, ok := e.Update.(protocol.TextDelta); ok && ss.first.IsZero() {
			ss.first = now
		}
	case protocol.ItemDone:
		if e.Item == nil || e.Item.ItemID() == "" {
			return errors.New("chatkit: thread.item.done needs an item with an id")
		}
		if am, ok := e.Item.(*protocol.AssistantMessageItem); ok {
			ss.fill(am, now)
			ss.usage.Replies++
		}
		body, err := ss.keep(e.Item)
		if err != nil {
			return err
		}
		delete(ss.pending, e.Item.ItemID())
		// Hidden items are stored for the model, never streamed (ChatKit
		// protocol: hidden_context_item and sdk_hidden_context).
		if !protocol.Hidden(e.Item.ItemType()) {
			ss.writeDone(body)
		}
		send = false
	case protocol.ItemReplaced:
		if e.Item == nil || e.Item.ItemID() == "" {
			return errors.New("chatkit: thread.item.replaced needs an item with an id")
		}
		if err := ss.store(now); err != nil {
			return err
		}
		ctx, cancel := ss.dbCtx()
		err := ss.st.saveItem(ctx, ss.thread.ID, e.Item, now)
		cancel()
		if err != nil {
			return err
		}
		send = !protocol.Hidden(e.Item.ItemType())
	case protocol.ItemRemoved:
		delete(ss.pending, e.ItemID)
		if err := ss.store(now); err != nil {
			return err
		}
		ctx, cancel := ss.dbCtx()
		err := ss.st.deleteItem(ctx, ss.thread.ID, e.ItemID)
		cancel()
		if err != nil {
			return err
		}
	case protocol.ErrorEvent:
		ss.usage.Errors++
	case protocol.ProgressUpdate, protocol.ClientEffect, protocol.Notice:
	default:
		return fmt.Errorf("chatkit: responders may not emit %s events", ev.EventType())
	}
	if send {
		ss.write(ev)
	}
	if ss.titleSet && ss.writeErr == nil {
		ss.titleSet = false
		ss.write(protocol.ThreadUpdated{Thread: ss.thread.wire()})
	}
	return ss.writeErr
}

func (ss *session) fill(am *protocol.AssistantMessageItem, now time.Time) {
	if am.ThreadID == "" {
		am.ThreadID = ss.thread.ID
	}
	if am.CreatedAt.IsZero() {
		am.CreatedAt = protocol.NewTime(now)
	}
}

// keep encodes a done item once, for the stream and the database, and
// holds it until the turn's transaction. A done item is new
// (thread.item.replaced is the way to change one): an id used twice would
// make one reply overwrite another in the client.
func (ss *session) keep(it protocol.Item) ([]byte, error) {
	id := it.ItemID()
	for _, f := range ss.done {
		if f.item.ItemID() == id {
			return nil, fmt.Errorf("chatkit: item id %s is already used in this thread", id)
		}
	}
	body, err := protocol.MarshalItem(it)
	if err != nil {
		return nil, err
	}
	if len(ss.done) >= maxKeptItems {
		if err := ss.store(ss.srv.now()); err != nil {
			return nil, err
		}
	}
	ss.done = append(ss.done, finishedItem{item: it, body: body})
	return body, nil
}

// store writes the kept items (and a new title) now, ahead of the turn's
// end: before an event that changes stored items, or when many are kept.
func (ss *session) store(now time.Time) error {
	if len(ss.done) == 0 && ss.newTitle == nil {
		return nil
	}
	ctx, cancel := ss.dbCtx()
	defer cancel()
	dups, err := ss.st.finishTurn(ctx, ss.owner, ss.thread.ID, ss.done, ss.newTitle, now, usageDelta{})
	ss.done, ss.newTitle = ss.done[:0], nil
	if err == nil && len(dups) > 0 {
		err = fmt.Errorf("chatkit: item id %s is already used in this thread", dups[0])
	}
	return err
}

// writeDone sends thread.item.done around an item's encoded JSON. A done
// item is usually the reply's last event, so it lingers (doneLinger) to
// leave with the end of the turn; an event right after it (the user's
// message is followed by stream_options) ends the wait at once.
func (ss *session) writeDone(item []byte) {
	if ss.writeErr != nil {
		return
	}
	ss.writeErr = ss.sse.Linger(protocol.AppendItemDone(ss.sse.Scratch(), item), doneLinger)
}

// NewItemID implements responder.Stream.
func (ss *session) NewItemID(prefix string) string {
	if prefix == "" {
		prefix = "msg"
	}
	return protocol.NewID(prefix)
}

// Now implements responder.Stream.
func (ss *session) Now() time.Time { return ss.srv.now() }

// ThreadID implements responder.Stream.
func (ss *session) ThreadID() string { return ss.thread.ID }

// SetTitle implements responder.Stream: the title is announced after the
// current event and stored with the turn.
func (ss *session) SetTitle(title string) {
	title = capBytes(strings.TrimSpace(title), maxTitleBytes)
	if title == ss.thread.Title {
		return
	}
	ss.thread.Title = title
	ss.newTitle = &title
	ss.titleSet = true
}

// finish ends the turn: cancellation persistence, error events, leftover
// pending items, usage.
func (ss *session) finish(reqCtx context.Context, err error) {
	// What finish writes leaves with the end of the response, after the
	// turn is stored.
	ss.sse.Tail()
	now := ss.srv.now()
	gone := reqCtx.Err() != nil || ss.writeErr != nil
	outcome, errorKind := outcomeOK, ""
	switch {
	case gone && err == nil && len(ss.pending) == 0:
		// Finished; the client left after the last event.
	case gone:
		// The client went away (stop button, closed tab): keep what it saw.
		outcome = outcomeCanceled
		ss.usage.Cancelled++
		ss.savePartial(now, false)
	case ss.ctx.Err() != nil:
		// max_stream_duration: the client is still there, so it gets the
		// partial reply as done items and an error it can retry from.
		outcome, errorKind = outcomeError, errorKindTooLong
		ss.usage.Errors++
		ss.savePartial(now, true)
		ss.write(protocol.ErrorEvent{Code: protocol.ErrorCodeCustom,
			Message: "The reply took too long and was stopped.", AllowRetry: true})
	case err != nil:
		outcome, errorKind = outcomeError, errorKindResponder
		ss.usage.Errors++
		for _, id := range ss.order {
			if _, ok := ss.pending[id]; ok {
				ss.write(protocol.ItemRemoved{ItemID: id})
			}
		}
		if ue, ok := responder.AsUserError(err); ok {
			ss.write(protocol.ErrorEvent{Code: protocol.ErrorCodeCustom, Message: ue.Message, AllowRetry: ue.AllowRetry})
		} else {
			ss.srv.logger.Error("responder failed", zap.String("thread", ss.thread.ID), zap.Error(err))
			ss.write(protocol.ErrorEvent{Code: protocol.ErrorCodeStream, AllowRetry: true})
		}
	default:
		// A responder that returned without closing a message: close it.
		for _, id := range ss.order {
			if p, ok := ss.pending[id]; ok {
				if body, err := ss.keep(p.message()); err == nil {
					ss.writeDone(body)
					ss.usage.Replies++
				}
				delete(ss.pending, id)
			}
		}
	}
	if outcome == outcomeOK && ss.usage.Errors > 0 {
		// The responder emitted an error event itself and returned nil.
		outcome, errorKind = outcomeError, errorKindResponder
	}
	if ss.titleSet {
		ss.write(protocol.ThreadUpdated{Thread: ss.thread.wire()})
	}
	if !ss.first.IsZero() {
		ss.usage.TTFTms, ss.usage.TTFTCount = ss.first.Sub(ss.begin).Milliseconds(), 1
	}
	if ss.usage.Replies > 0 {
		ss.usage.ReplyMS, ss.usage.ReplyCount = now.Sub(ss.begin).Milliseconds(), 1
	}
	// One transaction for everything the turn produced.
	ctx, cancel := ss.dbCtx()
	defer cancel()
	dups, err := ss.st.finishTurn(ctx, ss.owner, ss.thread.ID, ss.done, ss.newTitle, now, ss.usage)
	switch {
	case errors.Is(err, errNotFound):
		// The thread was deleted during the turn: nothing to keep.
	case err != nil:
		ss.srv.logger.Error("storing the turn", zap.String("thread", ss.thread.ID), zap.Error(err))
		ss.write(protocol.ErrorEvent{Code: protocol.ErrorCodeStream, AllowRetry: true})
		if outcome == outcomeOK {
			outcome, errorKind = outcomeError, errorKindStorage
		}
	case len(dups) > 0:
		// A responder reused the id of an earlier turn's item: the earlier
		// item stays, this one is not stored.
		ss.srv.logger.Error("responder reused an item id", zap.String("thread", ss.thread.ID), zap.Strings("items", dups))
		ss.write(protocol.ErrorEvent{Code: protocol.ErrorCodeStream, AllowRetry: true})
		if outcome == outcomeOK {
			outcome, errorKind = outcomeError, errorKindResponder
		}
	}
	ss.endTurn(outcome, errorKind)
}

// savePartial stores pending assistant messages that have text, then a
// hidden note so the next turn does not resume the old answer, as the
// ChatKit reference server does when a stream is cancelled.
func (ss *session) savePartial(now time.Time, announce bool) {
	saved := 0
	for _, id := range ss.order {
		pm, ok := ss.pending[id]
		if !ok {
			continue
		}
		delete(ss.pending, id)
		p := pm.message()
		if strings.TrimSpace(p.Text()) == "" {
			if announce {
				ss.write(protocol.ItemRemoved{ItemID: id})
			}
			continue
		}
		body, err := ss.keep(p)
		if err != nil {
			ss.srv.logger.Error("saving a stopped reply", zap.Error(err))
			continue
		}
		saved++
		if announce {
			ss.writeDone(body)
		}
	}
	note := &protocol.SDKHiddenContextItem{ID: protocol.NewID("shcx"), ThreadID: ss.thread.ID,
		CreatedAt: protocol.NewTime(now), Content: cancelledNote}
	if _, err := ss.keep(note); err != nil {
		ss.srv.logger.Error("saving the cancellation note", zap.Error(err))
	}
}
