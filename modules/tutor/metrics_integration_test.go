package tutor_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/intellistack/intellistack/internal/fakeopenai"
	"github.com/intellistack/intellistack/internal/metrics"
	"github.com/intellistack/intellistack/internal/testutil"
	_ "github.com/intellistack/intellistack/modules/ratelimit"
)

// scrape reads Caddy's admin /metrics: each sample line's value by its name
// and labels exactly as exposed (labels sorted by name).
func scrape(t *testing.T, c *testutil.Caddy) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + c.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// A scripted tutor session through Caddy, then the admin /metrics and the
// turn log: two answered turns, a model that answers 500 (a retrieval-only
// answer), a model that breaks off mid-reply, and a request over the quota.
// The counters are the process's, so the test compares each with its value
// before the session; it asserts every change exactly.
func TestMetricsAfterScriptedSession(t *testing.T) {
	testutil.ForEachDatabaseSetting(t, func(t *testing.T, database string) {
		fake := fakeopenai.New()
		defer fake.Close()
		logFile := filepath.Join(t.TempDir(), "turns.log")
		caddyfile := `{
	intellistack {
		database ` + database + `
		secret test-secret-0123456789abcdef
	}
	log turns {
		output file ` + logFile + `
		format json
		level INFO
		include http.handlers.chatkit
	}
}

https://localhost {
	route /chatkit {
		test_claims {
			ana student 2
		}
		request_quota {
			key {http.auth.user.id}
			limit 4 per 24h
			zone tutor_metrics
		}
		chatkit {
			responder tutor {
				` + modelBlock(fake) + `
				` + lexicalCourse + `
			}
		}
	}
}`
		c := testutil.StartCaddy(t, caddyfile)
		before := scrape(t, c)

		const question = "How does range(5) work in a for loop? zebra-marker"
		fake.Answer(fakeopenai.Reply{Chunks: []string{"What does ", "[1] say? ", "okapi-marker"}})
		resp, events := post(t, c, "ana", ask(question, nil))
		if resp.StatusCode != 200 || replyText(events) != "What does [1] say? okapi-marker" {
			t.Fatalf("turn 1: %d %v", resp.StatusCode, events)
		}
		var thread string
		for _, ev := range events {
			if ev.typ() == "thread.created" {
				thread = ev["thread"].(map[string]any)["id"].(string)
			}
		}
		again := func() map[string]any {
			return map[string]any{"type": "threads.add_user_message", "params": map[string]any{"thread_id": thread,
				"input": ask(question, nil)["params"].(map[string]any)["input"]}}
		}
		if resp, events := post(t, c, "ana", again()); resp.StatusCode != 200 || len(eventsOf(events, "error")) > 0 {
			t.Fatalf("turn 2: %d %v", resp.StatusCode, events)
		}
		fake.Answer(fakeopenai.Reply{Status: 500})
		if _, events := post(t, c, "ana", again()); !strings.Contains(replyText(events), "retrieval-only mode") {
			t.Fatalf("turn 3 was not answered retrieval-only: %v", events)
		}
		fake.Answer(fakeopenai.Reply{Chunks: []string{"Half ", "an ", "answer"}, BreakAfter: 2})
		if _, events := post(t, c, "ana", again()); len(eventsOf(events, "error")) != 1 {
			t.Fatalf("turn 4 did not end with an error: %v", events)
		}
		if resp, _ := post(t, c, "ana", again()); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("fifth request: %d, want 429", resp.StatusCode)
		}

		after := scrape(t, c)
		grew := func(series string) float64 { return after[series] - before[series] }
		for series, want := range map[string]float64{
			`intellistack_ratelimit_decisions_total{decision="admit",zone="tutor_metrics"}`:       4,
			`intellistack_ratelimit_decisions_total{decision="refuse",zone="tutor_metrics"}`:      1,
			`intellistack_ratelimit_decisions_total{decision="key_missing",zone="tutor_metrics"}`: 0,
			`intellistack_ratelimit_decisions_total{decision="unavailable",zone="tutor_metrics"}`: 0,
			`intellistack_chatkit_turns_total{outcome="ok"}`:                                      3,
			`intellistack_chatkit_turns_total{outcome="error"}`:                                   1,
			`intellistack_chatkit_turns_total{outcome="canceled"}`:                                0,
			`intellistack_tutor_time_to_first_token_seconds_count`:                                3, // turns 1, 2 and 4 had model text
			`intellistack_tutor_model_errors_total{kind="status"}`:                                1,
			`intellistack_tutor_model_errors_total{kind="stream"}`:                                1,
			`intellistack_tutor_model_errors_total{kind="timeout"}`:                               0,
			`intellistack_tutor_model_errors_total{kind="unreachable"}`:                           0,
			`intellistack_tutor_retrieval_seconds_count{backend="lexical"}`:                       4,
			`intellistack_tutor_answers_total{mode="model"}`:                                      2,
			`intellistack_tutor_answers_total{mode="retrieval_only"}`:                             1,
		} {
			if _, ok := after[series]; !ok {
				t.Errorf("%s is not exposed", series)
			} else if got := grew(series); got != want {
				t.Errorf("%s grew by %v, want %v", series, got, want)
			}
		}
		if got := after[`intellistack_chatkit_active_streams`]; got != 0 {
			t.Errorf("active streams after the session = %v", got)
		}
		if got := grew(`intellistack_tutor_time_to_first_token_seconds_sum`); got <= 0 {
			t.Errorf("time to first token sum grew by %v", got)
		}
		// The pool of this database, by dialect only.
		dialect, poolMax := "sqlite", max(4, runtime.GOMAXPROCS(0)+1)
		if strings.HasPrefix(database, "postgres") {
			dialect, poolMax = "postgres", max(4, runtime.NumCPU())
		}
		if got := after[`intellistack_db_pool_max_connections{dialect="`+dialect+`"}`]; got != float64(poolMax) {
			t.Errorf("pool max connections = %v, want %v", got, poolMax)
		}
		for _, s := range []string{`intellistack_db_pool_connections{dialect="` + dialect + `",state="in_use"}`,
			`intellistack_db_pool_connections{dialect="` + dialect + `",state="idle"}`,
			`intellistack_db_pool_wait_seconds_total{dialect="` + dialect + `"}`} {
			if _, ok := after[s]; !ok {
				t.Errorf("%s is not exposed", s)
			}
		}

		// A reload registers the same collectors into the new config's
		// registry: every count is kept.
		if err := c.Load(caddyfile); err != nil {
			t.Fatal(err)
		}
		reloaded := scrape(t, c)
		for _, series := range []string{`intellistack_chatkit_turns_total{outcome="ok"}`,
			`intellistack_ratelimit_decisions_total{decision="refuse",zone="tutor_metrics"}`,
			`intellistack_tutor_time_to_first_token_seconds_count`, `intellistack_tutor_model_errors_total{kind="stream"}`,
			`intellistack_tutor_retrieval_seconds_count{backend="lexical"}`, `intellistack_tutor_answers_total{mode="model"}`,
			`intellistack_db_pool_max_connections{dialect="` + dialect + `"}`} {
			if reloaded[series] != after[series] {
				t.Errorf("%s after a reload = %v, before it %v", series, reloaded[series], after[series])
			}
		}

		// One log line per turn, in order, with the user hashed and no text
		// of the conversation.
		raw, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		var lines []map[string]any
		sc := bufio.NewScanner(strings.NewReader(string(raw)))
		for sc.Scan() {
			var l map[string]any
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("log line %q: %v", sc.Text(), err)
			}
			if l["msg"] == "tutor turn" {
				lines = append(lines, l)
			}
		}
		want := []string{"threads.create ok model ", "threads.add_user_message ok model ",
			"threads.add_user_message ok retrieval_only status", "threads.add_user_message error  stream"}
		if len(lines) != len(want) {
			t.Fatalf("%d turn lines, want %d:\n%s", len(lines), len(want), raw)
		}
		for i, l := range lines {
			got := fmt.Sprintf("%v %v %v %v", l["op"], l["outcome"], str(l["mode"]), str(l["error_kind"]))
			if got != want[i] || l["user"] != metrics.UserHash("ana") || l["thread"] != thread || l["level"] != "info" {
				t.Errorf("line %d: %v", i, l)
			}
			if _, ok := l["duration"].(float64); !ok {
				t.Errorf("line %d has no duration: %v", i, l)
			}
			// Every turn here streamed text (a retrieval-only answer too).
			if _, ok := l["ttft"].(float64); !ok {
				t.Errorf("line %d has no ttft: %v", i, l)
			}
		}
		for _, secret := range []string{"zebra-marker", "okapi-marker", "Half", `"ana"`, "range(5)"} {
			if strings.Contains(string(raw), secret) {
				t.Errorf("the turn log holds %q:\n%s", secret, raw)
			}
		}
	})
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}
