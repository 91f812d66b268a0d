package chatkit

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/chatkit/protocol"
	"github.com/intellistack/intellistack/modules/chatkit/responder"
	"github.com/intellistack/intellistack/modules/store"
)

// toolResponder asks the client for a tool on a new message, and answers
// with the tool's output when the turn continues; it handles widget actions
// by sending a notice; with dupID it reuses an item id.
type toolResponder struct {
	last  *responder.Request
	dupID string
}

func (tr *toolResponder) Respond(ctx context.Context, req *responder.Request, s responder.Stream) error {
	tr.last = req
	if tr.dupID != "" {
		return s.Emit(protocol.ItemDone{Item: &protocol.AssistantMessageItem{ID: tr.dupID, Content: []protocol.OutputText{{Text: "dup"}}}})
	}
	if req.Input != nil {
		return s.Emit(protocol.ItemDone{Item: &protocol.ClientToolCallItem{ID: s.NewItemID("tc"), ThreadID: s.ThreadID(),
			CreatedAt: protocol.NewTime(s.Now()), Status: "pending", CallID: "call_1", Name: "get_selection",
			Arguments: map[string]any{"max": 10}}})
	}
	call := req.History[len(req.History)-1].(*protocol.ClientToolCallItem)
	m, err := responder.StartMessage(s)
	if err != nil {
		return err
	}
	if err := m.Delta("tool said " + string(call.Output)); err != nil {
		return err
	}
	return m.Done()
}

func (tr *toolResponder) HandleAction(ctx context.Context, req *responder.Request, a protocol.Action, itemID string, s responder.Stream) error {
	return s.Emit(protocol.Notice{Message: "action " + a.Type + " on " + itemID})
}

func TestClientToolRoundTripAndActions(t *testing.T) {
	t.Parallel()
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		tr := &toolResponder{}
		h := testHandler(t, db, tr, nil, nil)
		evs := frames(t, post(t, h, "u1", hiBody).Body.String())
		thread := threadOf(t, evs)
		last := evs[len(evs)-1]
		if last["type"] != "thread.item.done" || last["item"].(map[string]any)["type"] != "client_tool_call" {
			t.Fatalf("last event %v", last)
		}
		callID := last["item"].(map[string]any)["id"].(string)
		w := post(t, h, "u1", `{"type":"threads.add_client_tool_output","params":{"thread_id":"`+thread+`","result":{"text":"x = 1"}}}`)
		evs = frames(t, w.Body.String())
		if ty := eventTypes(evs); ty[0] != "stream_options" || ty[len(ty)-1] != "thread.item.done" {
			t.Fatalf("continuation %v", ty)
		}
		if tr.last.Input != nil || !strings.Contains(w.Body.String(), `tool said {\"text\":\"x = 1\"}`) {
			t.Fatalf("continuation input %v body %s", tr.last.Input, w.Body)
		}
		items := allItems(t, db, thread)
		if len(items) != 3 || !strings.Contains(items[1].Body, `"status":"completed"`) || !strings.Contains(items[1].Body, `"output":{"text":"x = 1"}`) {
			t.Fatalf("stored %+v", items)
		}
		// No pending call any more.
		if w := post(t, h, "u1", `{"type":"threads.add_client_tool_output","params":{"thread_id":"`+thread+`","result":1}}`); w.Code != 409 {
			t.Fatalf("second output: %d %s", w.Code, w.Body)
		}
		// Widget actions reach an ActionHandler; an unknown item is not found.
		w = post(t, h, "u1", `{"type":"threads.custom_action","params":{"thread_id":"`+thread+`","item_id":"`+callID+`","action":{"type":"save","payload":{"a":1}}}}`)
		evs = frames(t, w.Body.String())
		if ty := eventTypes(evs); len(ty) != 2 || ty[1] != "notice" || evs[1]["message"] != "action save on "+callID {
			t.Fatalf("action events %v", evs)
		}
		if w := post(t, h, "u1", `{"type":"threads.custom_action","params":{"thread_id":"`+thread+`","item_id":"msg_nope","action":{"type":"save"}}}`); w.Code != 404 {
			t.Fatalf("unknown widget: %d", w.Code)
		}
		// A responder reusing an item id gets an error instead of
		// overwriting the earlier item.
		dup := &toolResponder{dupID: callID}
		w = post(t, testHandler(t, db, dup, nil, nil), "u1", `{"type":"threads.add_user_message","params":{"thread_id":"`+thread+`","input":{"content":[{"type":"input_text","text":"x"}],"attachments":[],"inference_options":{}}}}`)
		evs = frames(t, w.Body.String())
		if evs[len(evs)-1]["type"] != "error" {
			t.Fatalf("duplicate id: %v", eventTypes(evs))
		}
		var body string
		_ = db.QueryRow(context.Background(), "SELECT body FROM chatkit_items WHERE thread_id = ? AND id = ?", thread, callID).Scan(&body)
		var it map[string]any
		_ = json.Unmarshal([]byte(body), &it)
		if it["type"] != "client_tool_call" {
			t.Fatalf("item overwritten: %s", body)
		}
	})
}
