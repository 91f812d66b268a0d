package intellistack_test

import (
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/intellistack/intellistack/internal/testutil"

	_ "github.com/intellistack/intellistack"
)

// Every module this repository ships is registered by importing the root
// package, which is what `xcaddy build --with` does.
func TestRootPackageRegistersModules(t *testing.T) {
	for _, id := range []string{
		"intellistack",
		"http.handlers.intellistack_health",
		"http.authentication.providers.bearer_jwt",
		"http.handlers.request_quota",
		"http.handlers.chatkit",
		"http.matchers.chatkit_op",
		"intellistack.responders.echo",
		"intellistack.responders.tutor",
		"intellistack.models.openai",
		"intellistack.retrievers.lexical",
		"intellistack.retrievers.qdrant",
		"http.handlers.oidc_provider",
		"http.handlers.tutor_widget",
	} {
		if _, err := caddy.GetModule(id); err != nil {
			t.Errorf("module %s is not registered: %v", id, err)
		}
	}
}

// The dev Caddyfile of the quick start adapts and serves on the embedded
// default. Its fixed ports are replaced by the harness's free ones.
func TestDevCaddyfileServes(t *testing.T) {
	raw, err := os.ReadFile("Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testutil.AdaptCaddyfile(string(raw)); err != nil {
		t.Fatalf("dev Caddyfile does not adapt: %v", err)
	}
	ports := regexp.MustCompile(`(?m)^\s*(http_port|https_port|skip_install_trust)\b.*$`)
	cf := ports.ReplaceAllString(string(raw), "")
	t.Setenv("DATABASE_URL", "")
	t.Setenv("INTELLISTACK_SECRET", "")
	c := testutil.StartCaddy(t, cf)
	resp, err := c.Client.Get(c.URL("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var health struct {
		Status, Database string
	}
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || health.Status != "ok" || health.Database != "sqlite" {
		t.Fatalf("dev health = %d %+v", resp.StatusCode, health)
	}

	// The OpenID provider answers its discovery document (its issuer names
	// port 8443, the dev port, whatever port the test runs on).
	disc, err := c.Client.Get(c.URL("/.well-known/openid-configuration"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Issuer string `json:"issuer"`
	}
	_ = json.NewDecoder(disc.Body).Decode(&meta)
	disc.Body.Close()
	if disc.StatusCode != 200 || meta.Issuer != "https://localhost:8443" {
		t.Fatalf("dev discovery: %d %+v", disc.StatusCode, meta)
	}

	// The tutor wants the provider's bearer tokens (no demo account): no
	// token is a 401 with a JSON body. The signed-in path is driven in a
	// browser by test/site.
	body := `{"type":"threads.create","params":{"input":{"content":[{"type":"input_text","text":"What is the difference between / and // ?"}],"attachments":[],"inference_options":{}}}}`
	tutor, err := c.Client.Post(c.URL("/api/v1/chatkit"), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	refusal, _ := io.ReadAll(tutor.Body)
	tutor.Body.Close()
	if tutor.StatusCode != 401 || !strings.Contains(string(refusal), `"error"`) {
		t.Errorf("dev tutor without a token: %d %s", tutor.StatusCode, refusal)
	}

	// The course site: the index lists the stages, a lesson page carries the
	// widget, whose script is served from the binary.
	for path, want := range map[string]string{
		"/":                                   `href="/lessons/stage-2/02-loops"`,
		"/lessons/stage-2/02-loops":           "<intellistack-tutor",
		"/assets/tutor/intellistack-tutor.js": "customElements.define",
	} {
		resp, err := c.Client.Get(c.URL(path))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), want) {
			t.Errorf("dev site %s: %d, lacks %q", path, resp.StatusCode, want)
		}
	}
}

// At site level (no route), the directives run in a safe order: the health
// probe before anything, the OpenID provider's own paths before bearer
// authentication (which may need its JWKS), authentication before the quota,
// the quota before the ChatKit responder.
func TestSiteLevelDirectiveOrder(t *testing.T) {
	cfg, err := testutil.AdaptCaddyfile(`example.com {
	chatkit {
		responder echo
	}
	request_quota {
		key {http.auth.user.id}
		limit 20 per 24h
	}
	bearer_jwt {
		jwks_url https://id.example.com/jwks
	}
	oidc_provider {
		issuer https://example.com
		client web {
			redirect_uri https://example.com/cb
			public
		}
	}
	intellistack_health /healthz
}`)
	if err != nil {
		t.Fatal(err)
	}
	order := []string{`"handler": "intellistack_health"`, `"handler": "oidc_provider"`, `"bearer_jwt"`, `"handler": "request_quota"`, `"handler": "chatkit"`}
	last := -1
	for _, h := range order {
		i := strings.Index(cfg, h)
		if i < 0 {
			t.Fatalf("%s missing from adapted config:\n%s", h, cfg)
		}
		if i < last {
			t.Fatalf("%s runs too early in:\n%s", h, cfg)
		}
		last = i
	}
}

// The production Caddyfile the README shows adapts with this build, so the
// documentation cannot drift from the syntax.
func TestReadmeProductionCaddyfileAdapts(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(raw), "### A production Caddyfile")
	if !ok {
		t.Fatal("README has no production Caddyfile section")
	}
	_, block, ok := strings.Cut(after, "```caddyfile\n")
	if !ok {
		t.Fatal("no caddyfile block in the production section")
	}
	block, _, _ = strings.Cut(block, "```")
	cfg, err := testutil.AdaptCaddyfile(block)
	if err != nil {
		t.Fatalf("README production Caddyfile does not adapt: %v", err)
	}
	for _, h := range []string{"oidc_provider", "bearer_jwt", "request_quota", "chatkit", "intellistack_health", `"provider": "openai"`, `"source": "qdrant"`} {
		if !strings.Contains(cfg, h) {
			t.Errorf("adapted README config lacks %s", h)
		}
	}
}

// The shipped Caddyfiles bound how long a client may take to send a request
// (a body trickled one byte at a time must not hold a connection for
// minutes) and set no write timeout, which would cut streamed replies.
func TestShippedCaddyfilesBoundSlowClients(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, prod, _ := strings.Cut(string(readme), "### A production Caddyfile")
	_, prod, _ = strings.Cut(prod, "```caddyfile\n")
	prod, _, _ = strings.Cut(prod, "```")
	dev, err := os.ReadFile("Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	for name, cf := range map[string]string{"Caddyfile": string(dev), "README production": prod} {
		cfg, err := testutil.AdaptCaddyfile(cf)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, want := range []string{`"read_header_timeout": 10000000000`, `"read_timeout": 30000000000`, `"idle_timeout": 120000000000`} {
			if !strings.Contains(cfg, want) {
				t.Errorf("%s: adapted config lacks %s", name, want)
			}
		}
		if strings.Contains(cfg, "write_timeout") {
			t.Errorf("%s sets a write timeout, which cuts streamed replies", name)
		}
	}
}
