package chatkit_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
	_ "github.com/intellistack/intellistack/modules/ratelimit" // request_quota
)

// quotaSite is the README's tutor route with a limit of one counted
// operation per user: test_identity in place of bearer_jwt, echo in place
// of the tutor.
const quotaSite = `https://localhost {
	route /chatkit {
		test_identity
		@send chatkit_op threads.create threads.add_user_message threads.retry_after_item
		request_quota @send {
			key {http.auth.user.id}
			limit 1 per 24h
			exempt_roles instructor admin
		}
		chatkit {
			responder echo
		}
	}
}
`

// createParams is a valid threads.create params object.
const createParams = `{"input":{"content":[{"type":"input_text","text":"free turn?"}],"attachments":[],"inference_options":{}}}`

// TestQuotaCannotBeBypassed: with `request_quota @send` at one message per
// user, a body spelled so that chatkit_op and the handler could read two
// different operations never runs a second model turn. Each body is either
// counted (429) or refused (400); none streams a reply.
func TestQuotaCannotBeBypassed(t *testing.T) {
	c := testutil.StartCaddy(t, quotaSite)
	bypasses := map[string]string{
		"upper-case key":      `{"TYPE":"threads.create","params":` + createParams + `}`,
		"mixed-case key":      `{"Type":"threads.create","params":` + createParams + `}`,
		"duplicate key":       `{"type":"threads.list","type":"threads.create","params":` + createParams + `}`,
		"escaped duplicate":   `{"type":"threads.list","\u0074ype":"threads.create","params":` + createParams + `}`,
		"type after 70 KB":    `{"metadata":{"pad":"` + strings.Repeat("x", 70<<10) + `"},"type":"threads.create","params":` + createParams + `}`,
		"params case variant": `{"type":"threads.create","PARAMS":` + createParams + `,"params":{}}`,
	}
	i := 0
	for name, body := range bypasses {
		i++
		user := fmt.Sprintf("student-%d", i)
		cl := &ckClient{t: t, http: c.Client, url: c.URL("/chatkit"), header: http.Header{"X-Test-User": {user}}}
		// The one allowed turn.
		if evs := cl.stream(createBody("first")); assistantText(evs) != "Echo: first" {
			t.Fatalf("%s: the first turn failed: %v", name, types(evs))
		}
		resp := cl.do(body)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d (%s), want 429 or 400: a turn the quota never counted", name, resp.StatusCode, resp.Header.Get("Content-Type"))
			continue
		}
		if strings.Contains(string(b), "free turn?") {
			t.Errorf("%s: the model saw the message: %.200s", name, b)
		}
		// threads.list is not counted and still works; it shows one thread.
		var list struct {
			Data []struct{ ID string } `json:"data"`
		}
		cl.mustJSON(`{"type":"threads.list","params":{}}`, &list)
		if len(list.Data) != 1 {
			t.Errorf("%s: %d threads after the bypass attempt, want 1", name, len(list.Data))
		}
	}
}
