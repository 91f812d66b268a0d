package tutor_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/intellistack/intellistack/internal/fakeopenai"
	"github.com/intellistack/intellistack/internal/fakeqdrant"
	"github.com/intellistack/intellistack/internal/testutil"
	_ "github.com/intellistack/intellistack/modules/chatkit"
	_ "github.com/intellistack/intellistack/modules/tutor"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// testClaims is a test-only authentication provider standing in for a
// validated token: "Authorization: Test <user>" authenticates one of the
// users configured in the Caddyfile, with their role and stage claim. Like
// bearer_jwt, it is the only source of identity.
type testClaims struct {
	Users map[string]map[string]string `json:"users,omitempty"`
}

func (testClaims) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.authentication.providers.test_claims", New: func() caddy.Module { return new(testClaims) }}
}

func (p testClaims) Authenticate(_ http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	id, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Test ")
	claims, known := p.Users[id]
	if !ok || !known {
		return caddyauth.User{}, false, nil
	}
	return caddyauth.User{ID: id, Metadata: claims}, true, nil
}

func init() {
	caddy.RegisterModule(testClaims{})
	// test_claims { <user> <role> [<stage>] … }
	httpcaddyfile.RegisterHandlerDirective("test_claims", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		p := testClaims{Users: map[string]map[string]string{}}
		h.Next()
		for h.NextBlock(0) {
			args := append([]string{h.Val()}, h.RemainingArgs()...)
			if len(args) < 2 {
				return nil, h.ArgErr()
			}
			claims := map[string]string{"role": args[1]}
			if len(args) > 2 {
				claims["stage"] = args[2]
			}
			p.Users[args[0]] = claims
		}
		return &caddyauth.Authentication{ProvidersRaw: caddy.ModuleMap{"test_claims": caddyconfig.JSON(p, nil)}}, nil
	})
}

// ---- a small ChatKit client ----

type event map[string]any

func (e event) typ() string { s, _ := e["type"].(string); return s }

func post(t *testing.T, c *testutil.Caddy, user string, body any) (*http.Response, []event) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, c.URL("/chatkit"), strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.Header.Set("Authorization", "Test "+user)
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var events []event
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var ev event
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					t.Fatalf("bad SSE data %q: %v", data, err)
				}
				events = append(events, ev)
			}
		}
	}
	return resp, events
}

func ask(text string, extra map[string]any) map[string]any {
	input := map[string]any{
		"content":           []any{map[string]any{"type": "input_text", "text": text}},
		"attachments":       []any{},
		"inference_options": map[string]any{},
	}
	body := map[string]any{"type": "threads.create", "params": map[string]any{"input": input}}
	for k, v := range extra {
		body[k] = v
	}
	return body
}

// replyText concatenates the assistant's text deltas.
func replyText(events []event) string {
	var b strings.Builder
	for _, ev := range events {
		if ev.typ() != "thread.item.updated" {
			continue
		}
		u, _ := ev["update"].(map[string]any)
		if u["type"] == "assistant_message.content_part.text_delta" {
			b.WriteString(u["delta"].(string))
		}
	}
	return b.String()
}

func eventsOf(events []event, typ string) []event {
	var out []event
	for _, ev := range events {
		if ev.typ() == typ {
			out = append(out, ev)
		}
	}
	return out
}

func annotations(events []event) []string {
	var out []string
	for _, ev := range events {
		if u, ok := ev["update"].(map[string]any); ok && u["type"] == "assistant_message.content_part.annotation_added" {
			src := u["annotation"].(map[string]any)["source"].(map[string]any)
			out = append(out, fmt.Sprint(src["filename"]))
		}
	}
	return out
}

func site(modelBlock, retrieverBlock string) string {
	return `https://localhost {
	route /chatkit {
		test_claims {
			ana student 2
			noclaim student
			ivy instructor
		}
		chatkit {
			responder tutor {
				` + modelBlock + `
				` + retrieverBlock + `
			}
		}
	}
}`
}

const lexicalCourse = `retriever lexical {
					path ../../examples/course
				}`

func modelBlock(f *fakeopenai.Server) string {
	return `model openai {
					base_url ` + f.BaseURL() + `
					api_key sk-test
					model tutor-test
					first_token_timeout 2s
				}`
}

func allSystemText(req fakeopenai.Request) string {
	var b strings.Builder
	for _, m := range req.Messages {
		if m.Role == "system" {
			b.WriteString(m.Content + "\n")
		}
	}
	return b.String()
}

// The prompt the model receives holds the Socratic instructions, the page
// context, and only passages from the student's unlocked stages; the reply
// streams back with citations.
func TestTutorThroughCaddy(t *testing.T) {
	fake := fakeopenai.New()
	defer fake.Close()
	fake.Answer(fakeopenai.Reply{Chunks: []string{"What does ", "[1] say ", "about the stop value?"}})
	c := testutil.StartCaddy(t, site(modelBlock(fake), lexicalCourse))

	resp, events := post(t, c, "ana", ask("Why does range(5) stop before 5 in my for loop?", map[string]any{
		"metadata": map[string]any{"page": map[string]any{"url": "https://learn.example/loops", "title": "Loops lesson",
			"headings": []string{"for loops and range"}, "selection": "range(2, 10, 2)"}, "stage": "4"},
	}))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := replyText(events); got != "What does [1] say about the stop value?" {
		t.Fatalf("reply %q; events %v", got, events)
	}
	if len(eventsOf(events, "thread.item.done")) < 2 {
		t.Fatalf("assistant message not completed: %v", events)
	}
	if anns := annotations(events); len(anns) != 1 || anns[0] != "stage-2/02-loops.md" {
		t.Fatalf("citations %v", anns)
	}
	req, _ := fake.Last()
	sys := allSystemText(req)
	for _, want := range []string{"Socratic", "Never do graded work", "stages 1 to 2", "for loops and range", "Loops lesson",
		"https://learn.example/loops", "range(2, 10, 2)"} {
		if !strings.Contains(sys, want) {
			t.Errorf("prompt lacks %q:\n%s", want, sys)
		}
	}
	for _, m := range req.Messages {
		if strings.Contains(m.Content, "stage 3,") || strings.Contains(m.Content, "stage 4,") {
			t.Fatalf("a later-stage passage reached the model of a stage-2 student:\n%s", m.Content)
		}
	}
}

// The stage comes from the trusted claim only: a body or header claiming
// stage 4 changes nothing, and a student without a claim gets stage 1.
func TestForgedStageDoesNothing(t *testing.T) {
	fake := fakeopenai.New()
	defer fake.Close()
	c := testutil.StartCaddy(t, site(modelBlock(fake), lexicalCourse))
	body := ask("What letter grade thresholds does the gradebook project use?", map[string]any{"metadata": map[string]any{"stage": 4, "role": "admin"}})
	b, _ := json.Marshal(body)
	for _, user := range []string{"ana", "noclaim"} {
		req, _ := http.NewRequest(http.MethodPost, c.URL("/chatkit"), strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Test "+user)
		req.Header.Set("X-User-Stage", "4")
		req.Header.Set("X-User-Role", "admin")
		resp, err := c.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // the whole turn, so the model was called
		resp.Body.Close()
		last, _ := fake.Last()
		sys := allSystemText(last)
		if strings.Contains(sys, "A from 90") || strings.Contains(sys, "course staff") {
			t.Fatalf("%s: forged stage or role reached the prompt:\n%s", user, sys)
		}
		want := map[string]string{"ana": "stages 1 to 2", "noclaim": "stages 1 to 1"}[user]
		if !strings.Contains(sys, want) {
			t.Fatalf("%s: prompt lacks %q", user, want)
		}
	}
	// Staff see everything.
	resp, _ := post(t, c, "ivy", body)
	if resp.StatusCode != 200 {
		t.Fatalf("instructor status %d", resp.StatusCode)
	}
	last, _ := fake.Last()
	if sys := allSystemText(last); !strings.Contains(sys, "A from 90") {
		t.Fatalf("instructor did not get the stage-4 project passage:\n%s", sys)
	}
}

// Deltas reach the client as the model produces them, not at the end.
func TestDeltasStreamAsTheyArrive(t *testing.T) {
	fake := fakeopenai.New()
	defer fake.Close()
	fake.Answer(fakeopenai.Reply{Chunks: []string{"one ", "two ", "three"}, Delay: 300 * time.Millisecond})
	c := testutil.StartCaddy(t, site(modelBlock(fake), lexicalCourse))
	b, _ := json.Marshal(ask("loops?", nil))
	req, _ := http.NewRequest(http.MethodPost, c.URL("/chatkit"), strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Test ana")
	resp, err := c.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	start := time.Now()
	var arrivals []time.Duration
	for sc.Scan() {
		if strings.Contains(sc.Text(), "text_delta") {
			arrivals = append(arrivals, time.Since(start))
		}
	}
	if len(arrivals) != 3 {
		t.Fatalf("%d deltas", len(arrivals))
	}
	// Three chunks 300 ms apart: the first must arrive well before the last.
	if arrivals[2]-arrivals[0] < 400*time.Millisecond {
		t.Fatalf("deltas arrived together (%v): the stream is buffered", arrivals)
	}
}

func TestDegradedModesThroughCaddy(t *testing.T) {
	fake := fakeopenai.New()
	defer fake.Close()

	t.Run("no model", func(t *testing.T) {
		c := testutil.StartCaddy(t, site("", lexicalCourse))
		_, events := post(t, c, "ana", ask("What is the difference between break and continue?", nil))
		notices := eventsOf(events, "notice")
		if len(notices) != 1 || !strings.Contains(fmt.Sprint(notices[0]["message"]), "not configured") {
			t.Fatalf("notices %v", notices)
		}
		if text := replyText(events); !strings.Contains(text, "retrieval-only mode") || !strings.Contains(text, "break and continue") {
			t.Fatalf("reply %q", text)
		}
	})
	t.Run("model unreachable", func(t *testing.T) {
		c := testutil.StartCaddy(t, site(`model openai {
					base_url http://127.0.0.1:1/v1
					model m
				}`, lexicalCourse))
		_, events := post(t, c, "ana", ask("What is the difference between break and continue?", nil))
		if n := eventsOf(events, "notice"); len(n) != 1 || !strings.Contains(fmt.Sprint(n[0]["message"]), "unavailable") {
			t.Fatalf("notices %v", n)
		}
		if !strings.Contains(replyText(events), "retrieval-only mode") {
			t.Fatalf("reply %q", replyText(events))
		}
	})
	t.Run("retriever down", func(t *testing.T) {
		fq, err := fakeqdrant.Start()
		if err != nil {
			t.Fatal(err)
		}
		fq.Stop() // a Qdrant that is not there
		fake.Answer(fakeopenai.Reply{Chunks: []string{"Let's reason it out."}})
		c := testutil.StartCaddy(t, site(modelBlock(fake), `retriever qdrant {
					address `+fq.Addr+`
					collection lessons
					timeout 1s
					embeddings {
						base_url `+fake.BaseURL()+`
						model emb
					}
				}`))
		_, events := post(t, c, "ana", ask("loops?", nil))
		if n := eventsOf(events, "notice"); len(n) != 1 || !strings.Contains(fmt.Sprint(n[0]["message"]), "Course search is unavailable") {
			t.Fatalf("notices %v", n)
		}
		if replyText(events) != "Let's reason it out." {
			t.Fatalf("reply %q", replyText(events))
		}
	})
	t.Run("model error mid-stream", func(t *testing.T) {
		fake.Answer(fakeopenai.Reply{Chunks: []string{"Half ", "an ", "answer"}, BreakAfter: 2})
		c := testutil.StartCaddy(t, site(modelBlock(fake), lexicalCourse))
		_, events := post(t, c, "ana", ask("loops?", nil))
		errs := eventsOf(events, "error")
		if len(errs) != 1 || errs[0]["allow_retry"] != true {
			t.Fatalf("error events %v", errs)
		}
		// The user's message is kept: it was stored before the responder ran.
		var threadID string
		for _, ev := range events {
			if ev.typ() == "thread.created" {
				threadID = ev["thread"].(map[string]any)["id"].(string)
			}
		}
		resp, _ := post(t, c, "ana", map[string]any{"type": "items.list", "params": map[string]any{"thread_id": threadID}})
		if resp.StatusCode != 200 {
			t.Fatalf("items.list status %d", resp.StatusCode)
		}
	})
}

// The production retriever through Caddy: lessons loaded with the index
// subcommand into Qdrant, and a stage-2 student's prompt never holds a
// passage of a later stage, whatever the question.
func TestQdrantRetrieverThroughCaddy(t *testing.T) {
	fake := fakeopenai.New()
	defer fake.Close()
	fq, err := fakeqdrant.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer fq.Stop()
	out, code := testutil.RunCommand(t, []string{"OPENAI_API_KEY=k"}, "index", "--lessons", "../../examples/course",
		"--collection", "lessons", "--qdrant", fq.Addr, "--embeddings-url", fake.BaseURL(), "--embeddings-model", "emb")
	if code != 0 {
		t.Fatalf("index: %s", out)
	}
	c := testutil.StartCaddy(t, site(modelBlock(fake), `retriever qdrant {
					address `+fq.Addr+`
					collection lessons
					embeddings {
						base_url `+fake.BaseURL()+`
						model emb
					}
				}`))
	for _, q := range []string{
		"What letter grade thresholds does the gradebook project use?",
		"How do I catch a ZeroDivisionError?",
		"What does return do in a function?",
		"What numbers does range(2, 10, 2) produce?",
	} {
		_, events := post(t, c, "ana", ask(q, nil))
		if len(eventsOf(events, "error")) > 0 {
			t.Fatalf("%q: %v", q, events)
		}
		req, _ := fake.Last()
		sys := allSystemText(req)
		if strings.Contains(q, "range") && !strings.Contains(sys, "(stage 2, stage-2/02-loops.md") {
			t.Errorf("%q: the unlocked loops lesson did not reach the prompt:\n%s", q, sys)
		}
		for _, locked := range []string{"(stage 3,", "(stage 4,"} {
			if strings.Contains(sys, locked) {
				t.Fatalf("%q: a later-stage passage reached a stage-2 student's prompt:\n%s", q, sys)
			}
		}
	}
	if len(fq.Queries()) < 4 {
		t.Fatalf("qdrant was queried %d times", len(fq.Queries()))
	}
}
