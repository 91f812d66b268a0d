package reliability

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
)

// lbCaddyfile is a Caddy load balancer in front of the nodes' HTTPS ports:
// round robin (so one student's consecutive requests land on both nodes),
// active health checks on intellistack_health, and a retry on the other
// node of a request that could not reach one.
func lbCaddyfile(ports ...int) string {
	upstreams := ""
	for _, p := range ports {
		upstreams += fmt.Sprintf(" https://127.0.0.1:%d", p)
	}
	return `https://localhost {
	reverse_proxy` + upstreams + ` {
		lb_policy round_robin
		lb_try_duration 5s
		fail_duration 30s
		health_uri /healthz
		health_interval 1s
		flush_interval -1
		# Caddy sends an HTTPS upstream its own address as Host; the nodes
		# serve the site the students asked for.
		header_up Host {http.request.hostport}
		transport http {
			tls_insecure_skip_verify
			tls_server_name localhost
		}
	}
}
`
}

// Two nodes on one PostgreSQL behind a Caddy load balancer: the class signs
// in and works through the balancer, so authorization requests, sessions,
// codes and tokens cross nodes on every step and quotas must hold exactly
// across them; then a node is killed (SIGKILL) in the middle of a stream,
// and the student's retry on the other node finds the thread with the user
// message stored once, and completes the turn without duplicating it.
func TestTwoNodes(t *testing.T) {
	sc := currentScale()
	db := pgDatabase(t)
	model, answer := pacedModel(t, sc.Tokens)
	// The balancer first, for its port: the issuer students see.
	lb := testutil.StartCaddyProcess(t, "https://localhost {\n\trespond \"starting\"\n}\n")
	issuer := lb.URL("")
	node := func(name string) string {
		cf := nodeConfig{Database: db, Issuer: issuer, ModelURL: model.BaseURL(), Quota: sc.Quota}.caddyfile()
		return strings.Replace(cf, "\tintellistack_health /healthz\n", "\tintellistack_health /healthz\n\theader X-Node "+name+"\n", 1)
	}
	nodes := testutil.StartCaddyProcesses(t, node("a"), node("b"))
	if err := lb.Load(lbCaddyfile(nodes[0].HTTPSPort, nodes[1].HTTPSPort)); err != nil {
		t.Fatalf("loading the balancer: %v", err)
	}
	// Until both nodes have passed a health check.
	seen := map[string]bool{}
	for deadline := time.Now().Add(20 * time.Second); len(seen) < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the balancer reaches only nodes %v", seen)
		}
		if resp, err := lb.Client.Get(lb.URL("/healthz")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 && resp.Header.Get("X-Node") != "" {
				seen[resp.Header.Get("X-Node")] = true
			}
		}
	}
	s := newSite(t, lb)
	// One more student than the day's class, who keeps their quota for the
	// kill below.
	students := enrol(t, s, db, sc.Students+1, func(int) bool { return true })
	spare := students[sc.Students]

	procs := []*procStats{watch(pidOf(t, nodes[0])), watch(pidOf(t, nodes[1])), watch(pidOf(t, lb))}
	tl := &tally{}
	wall := runDay(students[:sc.Students], sc, modelAnswer(answer), tl, nil)
	lines := []string{"node a: " + procs[0].end(), "node b: " + procs[1].end(), "balancer: " + procs[2].end()}

	// Mid-stream kill: a fresh thread, the node serving it killed once the
	// answer streams, then the retry through the balancer.
	kill := killMidStream(t, spare, nodes, answer)
	extra := [][2]string{{"node killed mid-stream", kill}}
	dayReport(t, "two nodes on PostgreSQL behind a Caddy load balancer", sc, students, tl, wall, lines, modelAnswer(answer), extra)
}

// killMidStream runs the kill-and-retry check and returns its table line.
func killMidStream(t *testing.T, st *student, nodes []*testutil.Caddy, answer string) string {
	t.Helper()
	text := "a question interrupted by a node failure"
	body := fmt.Sprintf(`{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":%q}],"attachments":[],"inference_options":{}}}}`, text)
	st.sends++
	resp, _, err := st.post(body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream to kill: %v %v", resp, err)
	}
	served := resp.Header.Get("X-Node")
	var victim *testutil.Caddy
	switch served {
	case "a":
		victim = nodes[0]
	case "b":
		victim = nodes[1]
	default:
		t.Fatalf("stream served by node %q", served)
	}
	// Read until the first text delta, then kill the node serving it.
	buf := make([]byte, 64<<10)
	got := ""
	thread, userItem := "", ""
	for !strings.Contains(got, "text_delta") {
		n, err := resp.Body.Read(buf)
		got += string(buf[:n])
		if err != nil {
			t.Fatalf("stream ended before its first delta: %v\n%s", err, got)
		}
	}
	for _, line := range strings.Split(got, "\n") {
		var ev chatEvent
		if data, ok := strings.CutPrefix(line, "data: "); ok && json.Unmarshal([]byte(data), &ev) == nil && ev.Type == "thread.created" {
			thread = ev.Thread.ID
		}
	}
	if thread == "" {
		t.Fatalf("no thread.created before the first delta:\n%s", got)
	}
	pid := pidOf(t, victim)
	t0 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rest := make([]byte, 0)
	var readErr error
	for readErr == nil {
		var n int
		n, readErr = resp.Body.Read(buf)
		rest = append(rest, buf[:n]...)
	}
	resp.Body.Close()
	cut := !strings.Contains(string(rest), `"type":"assistant_message"`) || readErr.Error() != "EOF"
	// The client's retry: find the thread, check the stored user message,
	// retry after it.
	var items []storedItem
	deadline := time.Now().Add(30 * time.Second)
	for {
		items, err = st.history(thread)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("history of %s after the kill: %v", thread, err)
	}
	recovered := time.Since(t0)
	users := 0
	for _, it := range items {
		if it.Type == "user_message" {
			users++
			userItem = it.ID
			if it.text() != text {
				t.Errorf("stored user message %q, sent %q", it.text(), text)
			}
		}
	}
	if users != 1 {
		t.Fatalf("after the kill thread %s holds %d user messages: %+v", thread, users, items)
	}
	tr := st.retry(thread, userItem)
	if tr.err != nil || !tr.complete || !strings.Contains(tr.assistant, answer) {
		t.Fatalf("retry on the surviving node: status %d complete %v err %v event %s", tr.status, tr.complete, tr.err, tr.errEvent)
	}
	items, err = st.history(thread)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, it := range items {
		kinds = append(kinds, it.Type)
	}
	if strings.Join(kinds, ",") != "user_message,assistant_message" || !strings.Contains(items[1].text(), answer) {
		t.Errorf("after the retry thread %s holds %v", thread, kinds)
	}
	// The student's own bookkeeping: the quota counted the stream and the
	// retry; the verified thread is this one.
	st.accept(thread, text)
	return fmt.Sprintf("node %s killed after the first delta (client saw a cut stream: %v); thread found on the other node after %s; 1 user message stored, retry completed; thread holds %v",
		served, cut, ms(recovered), kinds)
}
