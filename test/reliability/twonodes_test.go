package reliability

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

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
		cf := nodeConfig{Database: db, Issuer: issuer, ModelURL: model.BaseURL(), Quota: sc.Quota, KeyRotation: keyRotation.String()}.caddyfile()
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
	// An API node of the same issuer, as a separate service would run it:
	// bearer_jwt on the issuer's JWKS over HTTP (through a relay to the
	// balancer's /jwks), refreshed every 2 s.
	relay := newSwitchServer(t, jwksRelay(s))
	apiNode := testutil.StartCaddyProcess(t, apiNodeCaddyfile(db, issuer, "http://"+relay.addr+"/jwks", model.BaseURL()))
	// One more student than the day's class, who keeps their quota for the
	// kill below.
	students := enrol(t, s, db, sc.Students+1, func(int) bool { return true })
	spare := students[sc.Students]
	firstKID := kidOf(t, spare.access)
	// The API node has fetched the keys of the day's start.
	if code := listWith(t, apiNode.Client, apiNode.URL("/api/v1/chatkit"), spare.access); code != 200 {
		t.Fatalf("API node before the load: threads.list %d", code)
	}

	procs := []*procStats{watch(pidOf(t, nodes[0])), watch(pidOf(t, nodes[1])), watch(pidOf(t, lb))}
	tl := &tally{}
	wall := runDay(students[:sc.Students], sc, modelAnswer(answer), tl, nil)
	lines := []string{"node a: " + procs[0].end(), "node b: " + procs[1].end(), "balancer: " + procs[2].end()}

	rotation := checkKeyRotation(t, spare, s, nodes, apiNode, firstKID)
	// Mid-stream kill: a fresh thread, the node serving it killed once the
	// answer streams, then the retry through the balancer.
	kill := killMidStream(t, spare, nodes, answer)
	extra := [][2]string{{"key rotation (key_rotation " + keyRotation.String() + ")", rotation}, {"node killed mid-stream", kill}}
	dayReport(t, "two nodes on PostgreSQL behind a Caddy load balancer", sc, students, tl, wall, lines, modelAnswer(answer), extra)
}

// keyRotation is the provider's key_rotation in the two-node scenario:
// short, so that the signing key changes several times during the load and
// every token refresh may meet a new key (published half of it ahead).
const keyRotation = 15 * time.Second

// jwksRelay serves the issuer's JWKS over plain HTTP: the API node's
// fetches, without the site's internal CA.
func jwksRelay(s *site) http.Handler {
	fetcher := s.client(true, nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := fetcher.Get(s.URL + "/jwks")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}

// kidOf reads the kid of a JWT's header.
func kidOf(t *testing.T, token string) string {
	t.Helper()
	head, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	var h struct {
		KID string `json:"kid"`
	}
	if err != nil || json.Unmarshal(b, &h) != nil || h.KID == "" {
		t.Fatalf("no kid in the token header %q", head)
	}
	return h.KID
}

// listWith sends threads.list with a bearer token through hc to endpoint.
func listWith(t *testing.T, hc *http.Client, endpoint, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(`{"type":"threads.list","params":{"limit":1}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("threads.list at %s: %v", endpoint, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// jwksKIDs lists the kids a node publishes.
func jwksKIDs(t *testing.T, c *testutil.Caddy) []string {
	t.Helper()
	resp, err := c.Client.Get(c.URL("/jwks"))
	if err != nil {
		t.Fatalf("JWKS of %s: %v", c.URL(""), err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("JWKS of %s: %v", c.URL(""), err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	slices.Sort(kids)
	return kids
}

// checkKeyRotation runs after the load, both nodes alive: the signing key
// has changed since the class signed in; both nodes publish the same keys;
// a refresh at either node directly gets a token signed with the same,
// new key; and that token is accepted by node a, node b, the balancer and
// the API node, whose JWKS cache must have picked the new key up.
func checkKeyRotation(t *testing.T, st *student, s *site, nodes []*testutil.Caddy, api *testutil.Caddy, firstKID string) string {
	t.Helper()
	kidsA, kidsB := jwksKIDs(t, nodes[0]), jwksKIDs(t, nodes[1])
	if !slices.Equal(kidsA, kidsB) {
		t.Errorf("the nodes publish different keys: a %v, b %v", kidsA, kidsB)
	}
	var kids [2]string
	for i, n := range nodes {
		conf := s.conf
		conf.Endpoint.TokenURL = strings.Replace(conf.Endpoint.TokenURL, s.URL, n.URL(""), 1)
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, n.Client)
		tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: st.refreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh at node %c directly: %v", 'a'+i, err)
		}
		st.access, st.refreshToken = tok.AccessToken, tok.RefreshToken
		kids[i] = kidOf(t, tok.AccessToken)
	}
	if kids[0] != kids[1] {
		t.Errorf("node a signs with %s, node b with %s", kids[0], kids[1])
	}
	if kids[1] == firstKID {
		t.Errorf("the signing key is still %s, the key of the day's start: no rotation seen", firstKID)
	}
	if !slices.Contains(kidsA, kids[1]) {
		t.Errorf("the signing key %s is not in the JWKS %v", kids[1], kidsA)
	}
	var refused []string
	for _, target := range []struct {
		name string
		hc   *http.Client
		url  string
	}{
		{"node a", nodes[0].Client, nodes[0].URL("/api/v1/chatkit")},
		{"node b", nodes[1].Client, nodes[1].URL("/api/v1/chatkit")},
		{"balancer", st.api, s.URL + "/api/v1/chatkit"},
		{"API node (JWKS over HTTP)", api.Client, api.URL("/api/v1/chatkit")},
	} {
		if code := listWith(t, target.hc, target.url, st.access); code != 200 {
			refused = append(refused, fmt.Sprintf("%s: %d", target.name, code))
		}
	}
	for _, r := range refused {
		t.Errorf("a token signed with the new key %s refused by %s", kids[1], r)
	}
	return fmt.Sprintf("key of the day's start %s; after the load %d keys published, the same on both nodes: %v; both nodes sign with %s; refused by node a, node b, balancer, API node: %s",
		firstKID, len(kidsA), slices.Equal(kidsA, kidsB), kids[1], firstFew(refused))
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
