package chatkit_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// basicAuthSite serves the endpoint behind basic_auth (alice, bob) at
// /chatkit, and without any authentication at /open.
func basicAuthSite(t *testing.T, database, chatkitBlock string) string {
	return fmt.Sprintf(`{
	intellistack {
		database %q
		secret %s
	}
}

https://localhost {
	route /chatkit {
		basic_auth {
			alice %s
			bob %s
		}
		chatkit {
			%s
		}
	}
	route /open {
		chatkit {
			responder echo
		}
	}
}
`, database, testSecret, hash(t, "alice-pw"), hash(t, "bob-pw"), chatkitBlock)
}

func createBody(text string) string {
	b, _ := json.Marshal(text)
	return `{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":` + string(b) +
		`}],"quoted_text":"","attachments":[],"inference_options":{}}}}`
}

func addBody(thread, text string) string {
	b, _ := json.Marshal(text)
	return `{"type":"threads.add_user_message","params":{"thread_id":"` + thread +
		`","input":{"content":[{"type":"input_text","text":` + string(b) + `}],"attachments":[],"inference_options":{}}}}`
}

// checkTurnGrammar checks the event order of one turn: optional
// thread.created, the user item (done only), stream_options, then the reply.
func checkTurnGrammar(t *testing.T, evs []event, created, withUser bool) {
	t.Helper()
	ty := types(evs)
	i := 0
	expect := func(want string) {
		t.Helper()
		if i >= len(ty) || ty[i] != want {
			t.Fatalf("event %d: got %v, want %s at that position", i, ty, want)
		}
		i++
	}
	if created {
		expect("thread.created")
	}
	if withUser {
		expect("thread.item.done(user_message)")
	}
	expect("stream_options")
	for ; i < len(ty); i++ {
		switch strings.SplitN(ty[i], "(", 2)[0] {
		case "progress_update", "client_effect", "notice", "thread.item.added", "thread.item.updated",
			"thread.item.done", "thread.item.removed", "thread.item.replaced", "thread.updated":
		case "error":
			for _, rest := range ty[i+1:] {
				if rest != "thread.updated" {
					t.Fatalf("%s after error: %v", rest, ty)
				}
			}
			return
		default:
			t.Fatalf("unexpected event %s in %v", ty[i], ty)
		}
	}
}

// listAll pages through items.list with the given order and page size.
func listAll(t *testing.T, c *ckClient, thread, order string, limit int) []map[string]any {
	t.Helper()
	var out []map[string]any
	after := ""
	seen := map[string]bool{}
	for {
		body := fmt.Sprintf(`{"type":"items.list","params":{"thread_id":%q,"order":%q,"limit":%d`, thread, order, limit)
		if after != "" {
			body += fmt.Sprintf(`,"after":%q`, after)
		}
		var page struct {
			Data    []map[string]any `json:"data"`
			HasMore bool             `json:"has_more"`
			After   *string          `json:"after"`
		}
		c.mustJSON(body+"}}", &page)
		if len(page.Data) > limit {
			t.Fatalf("page of %d items for limit %d", len(page.Data), limit)
		}
		if page.HasMore != (page.After != nil) {
			t.Fatalf("has_more %v but after %v", page.HasMore, page.After)
		}
		for _, it := range page.Data {
			id := it["id"].(string)
			if seen[id] {
				t.Fatalf("item %s listed twice", id)
			}
			seen[id] = true
			out = append(out, it)
		}
		if !page.HasMore {
			return out
		}
		if *page.After != page.Data[len(page.Data)-1]["id"] {
			t.Fatalf("after %s is not the last element", *page.After)
		}
		after = *page.After
	}
}

func reversed(in []map[string]any) []map[string]any {
	out := make([]map[string]any, len(in))
	for i, v := range in {
		out[len(in)-1-i] = v
	}
	return out
}

func assistantText(evs []event) string {
	for _, e := range evs {
		if e.Type == "thread.item.done" {
			it := e.M["item"].(map[string]any)
			if it["type"] == "assistant_message" {
				return it["content"].([]any)[0].(map[string]any)["text"].(string)
			}
		}
	}
	return ""
}

// TestConformance drives every operation through Caddy (basic_auth in
// front) and validates every request, JSON answer and SSE frame against the
// conformance schemas, on SQLite and PostgreSQL.
func TestConformance(t *testing.T) {
	sc := loadSchemas(t)
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		c := testutil.StartCaddy(t, basicAuthSite(t, database, "responder echo {\n\t\t\t\tfail BOOM\n\t\t\t}"))
		alice := &ckClient{t: t, http: c.Client, url: c.URL("/chatkit"), user: "alice", pass: "alice-pw", sc: sc}

		// threads.create with the captured official-client body.
		evs := alice.stream(createBody("Hi there"))
		checkTurnGrammar(t, evs, true, true)
		thread := evs[0].M["thread"].(map[string]any)
		threadID := thread["id"].(string)
		if _, has := thread["title"]; has {
			t.Fatalf("a new thread has a title: %v", thread)
		}
		if got := assistantText(evs); got != "Echo: Hi there" {
			t.Fatalf("reply %q", got)
		}
		if last := evs[len(evs)-1]; last.Type != "thread.updated" || last.M["thread"].(map[string]any)["title"] != "Hi there" {
			t.Fatalf("last event %s, want thread.updated with the title", last.Raw)
		}
		rp := newReplayer(t)
		rp.apply(evs)

		for _, text := range []string{"second message", "third one with <html> & \"quotes\" ünïcode"} {
			evs = alice.stream(addBody(threadID, text))
			checkTurnGrammar(t, evs, false, true)
			rp.apply(evs)
			for _, e := range evs {
				if e.Type == "thread.updated" {
					t.Fatalf("title changed again: %s", e.Raw)
				}
			}
		}
		if len(rp.items) != 6 {
			t.Fatalf("replayed %d items, want 6", len(rp.items))
		}
		// Persistence = replay, in every order and page size.
		for _, limit := range []int{1, 2, 4, 20} {
			if got := listAll(t, alice, threadID, "asc", limit); !reflect.DeepEqual(got, rp.items) {
				t.Fatalf("items.list asc limit %d:\n got %v\nwant %v", limit, got, rp.items)
			}
			if got := listAll(t, alice, threadID, "desc", limit); !reflect.DeepEqual(got, reversed(rp.items)) {
				t.Fatalf("items.list desc limit %d differs", limit)
			}
		}
		// Default order is desc; a 0 or null limit means 20; huge limits are clamped.
		var page struct {
			Data    []map[string]any `json:"data"`
			HasMore bool             `json:"has_more"`
		}
		alice.mustJSON(`{"type":"items.list","params":{"thread_id":"`+threadID+`","limit":null}}`, &page)
		if !reflect.DeepEqual(page.Data, reversed(rp.items)) || page.HasMore {
			t.Fatalf("items.list defaults: %v", page)
		}
		page.Data = nil
		alice.mustJSON(`{"type":"items.list","params":{"thread_id":"`+threadID+`","limit":999999999,"order":"asc"}}`, &page)
		if !reflect.DeepEqual(page.Data, rp.items) {
			t.Fatalf("items.list huge limit differs")
		}

		// threads.get_by_id embeds the first page, ascending.
		var th struct {
			ID       string         `json:"id"`
			Title    string         `json:"title"`
			Metadata map[string]any `json:"metadata"`
			Items    struct {
				Data    []map[string]any `json:"data"`
				HasMore bool             `json:"has_more"`
			} `json:"items"`
		}
		alice.mustJSON(`{"type":"threads.get_by_id","params":{"thread_id":"`+threadID+`"}}`, &th)
		if th.ID != threadID || th.Title != "Hi there" || len(th.Metadata) != 0 || !reflect.DeepEqual(th.Items.Data, rp.items) {
			t.Fatalf("threads.get_by_id: %+v", th)
		}

		// Retry after the second user message: newer items vanish silently,
		// then a new reply streams.
		secondUser := rp.items[2]["id"].(string)
		evs = alice.stream(`{"type":"threads.retry_after_item","params":{"thread_id":"` + threadID + `","item_id":"` + secondUser + `"}}`)
		checkTurnGrammar(t, evs, false, false)
		for _, e := range evs {
			if e.Type == "thread.item.removed" {
				t.Fatalf("retry sent thread.item.removed")
			}
		}
		rp.dropAfter(secondUser)
		rp.apply(evs)
		if got := listAll(t, alice, threadID, "asc", 3); !reflect.DeepEqual(got, rp.items) || len(got) != 4 {
			t.Fatalf("after retry items.list = %v, want %v", got, rp.items)
		}
		if assistantText(evs) != "Echo: second message" {
			t.Fatalf("retry reply %q", assistantText(evs))
		}
		alice.expectError(`{"type":"threads.retry_after_item","params":{"thread_id":"`+threadID+`","item_id":"`+rp.items[1]["id"].(string)+`"}}`, 400)
		alice.expectError(`{"type":"threads.retry_after_item","params":{"thread_id":"`+threadID+`","item_id":"msg_nope"}}`, 404)

		// A failing responder: the pending reply is removed, then an error
		// event; the stored thread still equals the client's view.
		evs = alice.stream(addBody(threadID, "please BOOM"))
		checkTurnGrammar(t, evs, false, true)
		if ty := types(evs); ty[len(ty)-2] != "thread.item.removed" || ty[len(ty)-1] != "error" {
			t.Fatalf("failing turn: %v", ty)
		}
		rp.apply(evs)
		if got := listAll(t, alice, threadID, "asc", 20); !reflect.DeepEqual(got, rp.items) {
			t.Fatalf("after a failed turn items.list = %v, want %v", got, rp.items)
		}

		// Feedback, rename.
		alice.mustJSON(`{"type":"items.feedback","params":{"thread_id":"`+threadID+`","item_ids":["`+rp.items[1]["id"].(string)+`","msg_unknown"],"kind":"positive"}}`, nil)
		var renamed map[string]any
		alice.mustJSON(`{"type":"threads.update","params":{"thread_id":"`+threadID+`","title":"Renamed"}}`, &renamed)
		if renamed["title"] != "Renamed" || renamed["items"].(map[string]any)["has_more"] != false {
			t.Fatalf("threads.update answered %v", renamed)
		}

		// threads.list: creation order, pagination both ways, huge limit.
		// Threads are ordered by their creation time in milliseconds (the
		// stored resolution), id breaking ties; on a fast machine two
		// creates can share a millisecond, so each waits for the next one
		// to make "creation order" the order the server must give.
		ids := []string{threadID}
		for i := 0; i < 3; i++ {
			nextMillisecond()
			evs := alice.stream(createBody(fmt.Sprintf("thread %d", i)))
			ids = append(ids, evs[0].M["thread"].(map[string]any)["id"].(string))
		}
		for _, order := range []string{"asc", "desc"} {
			for _, limit := range []int{1, 3, 9999} {
				var got []string
				after := ""
				for {
					body := fmt.Sprintf(`{"type":"threads.list","params":{"limit":%d,"order":%q`, limit, order)
					if after != "" {
						body += fmt.Sprintf(`,"after":%q`, after)
					}
					var tp struct {
						Data []struct {
							ID    string `json:"id"`
							Items struct {
								Data []any `json:"data"`
							} `json:"items"`
						} `json:"data"`
						HasMore bool    `json:"has_more"`
						After   *string `json:"after"`
					}
					alice.mustJSON(body+"}}", &tp)
					for _, d := range tp.Data {
						if len(d.Items.Data) != 0 {
							t.Fatalf("threads.list entry with items")
						}
						got = append(got, d.ID)
					}
					if tp.HasMore != (tp.After != nil) {
						t.Fatalf("threads.list has_more/after mismatch")
					}
					if !tp.HasMore {
						break
					}
					after = *tp.After
				}
				want := ids
				if order == "desc" {
					want = nil
					for i := len(ids) - 1; i >= 0; i-- {
						want = append(want, ids[i])
					}
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("threads.list %s limit %d = %v, want %v", order, limit, got, want)
				}
			}
		}
		alice.mustJSON(`{"type":"threads.list","params":{}}`, nil)
		alice.mustJSON(`{"type":"threads.list","params":{"limit":9999,"order":"desc"}}`, nil)

		// Unsupported operations: clean 4xx JSON, never a hang.
		alice.expectError(`{"type":"attachments.create","params":{"name":"a.png","size":10,"mime_type":"image/png"}}`, 400)
		alice.expectError(`{"type":"attachments.delete","params":{"attachment_id":"atc_1"}}`, 400)
		alice.expectError(`{"type":"input.transcribe","params":{"audio_base64":"AAAA","mime_type":"audio/ogg;codecs=opus"}}`, 400)
		alice.expectError(`{"type":"threads.add_structured_input","params":{"thread_id":"`+threadID+`","item_id":"x","input":{"status":"skipped","answers":{}}}}`, 400)
		alice.expectError(`{"type":"threads.custom_action","params":{"thread_id":"`+threadID+`","item_id":null,"action":{"type":"x","payload":{}}}}`, 400)
		alice.expectError(`{"type":"threads.sync_custom_action","params":{"thread_id":"`+threadID+`","item_id":null,"action":{"type":"x"}}}`, 400)
		alice.expectError(`{"type":"threads.add_client_tool_output","params":{"thread_id":"`+threadID+`","result":{"ok":true}}}`, 409)
		alice.expectError(`{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":"x"}],"attachments":["atc_1"],"inference_options":{}}}}`, 400)

		// Delete.
		alice.mustJSON(`{"type":"threads.delete","params":{"thread_id":"`+threadID+`"}}`, nil)
		alice.expectError(`{"type":"threads.get_by_id","params":{"thread_id":"`+threadID+`"}}`, 404)
		alice.expectError(`{"type":"items.list","params":{"thread_id":"`+threadID+`"}}`, 404)

		// No authenticated user: 401 JSON from the handler itself.
		open := &ckClient{t: t, http: c.Client, url: c.URL("/open")}
		open.expectError(`{"type":"threads.list","params":{}}`, 401)
		open.expectError(createBody("hi"), 401)
	})
}

// nextMillisecond returns once the wall clock's millisecond (the one the
// in-process server stamps threads with) has moved on.
func nextMillisecond() {
	start := time.Now().UnixMilli()
	for time.Now().UnixMilli() == start {
		time.Sleep(100 * time.Microsecond)
	}
}
