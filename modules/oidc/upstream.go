package oidc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Upstream is an identity provider users may sign in with instead of a
// password ("Continue with Google"). `google` is OpenID Connect (discovery
// from accounts.google.com), `github` is OAuth 2.0 with GitHub's /user and
// /user/emails APIs (only the primary, verified address counts), and any
// other name is a generic OpenID Connect provider found by discovery from
// its issuer. The redirect URI to register upstream is
// <issuer>/oauth2/upstream/<name>/callback. Signed-in users see, link and
// unlink their upstream identities at <issuer>/oauth2/linked-accounts. The
// pages this adds, upstream-error.html and linked-accounts.html, are
// overridden like the others with `templates`.
//
//	upstream <name> {
//		issuer        <url>          # required for other names; google: https://accounts.google.com; github: https://github.com (GitHub Enterprise: its URL)
//		client_id     <id>           # required
//		client_secret <secret>       # required; use {env.…}
//		scopes        <scope…>       # default: openid email profile; github: read:user user:email
//		label         <text>         # the button says "Continue with <label>"; default Google, GitHub or the name
//		auth_url      <url>          # github: override the authorization endpoint
//		token_url     <url>          # github: override the token endpoint
//		api_url       <url>          # github: override the API (default https://api.github.com, or <issuer>/api/v3)
//		trusted_ca    <pem file>     # extra CA certificates for the upstream's HTTPS (a private CA); default: system roots
//		timeout       <duration>     # each upstream HTTP call; default 10s
//	}
type Upstream struct {
	// Name identifies the upstream in URLs and in accounts.provider_id:
	// lower-case letters, digits, - and _. `google` and `github` select
	// those protocols; any other name is generic OpenID Connect.
	Name string `json:"name"`

	// Issuer is the OpenID Connect issuer (discovery is fetched from
	// <issuer>/.well-known/openid-configuration), or for github the web
	// URL of GitHub (Enterprise). Default: https://accounts.google.com for
	// google, https://github.com for github; required otherwise.
	Issuer string `json:"issuer,omitempty"`

	// ClientID and ClientSecret are the credentials registered upstream.
	// Placeholders ({env.…}) are expanded at load. Required.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`

	// Scopes asked upstream. Default: openid email profile (OpenID
	// Connect), read:user user:email (github).
	Scopes []string `json:"scopes,omitempty"`

	// Label is the name on the button. Default: Google, GitHub, or Name.
	Label string `json:"label,omitempty"`

	// AuthURL, TokenURL and APIURL override GitHub's endpoints (github
	// only). Default: <issuer>/login/oauth/authorize,
	// <issuer>/login/oauth/access_token and https://api.github.com (or
	// <issuer>/api/v3 for GitHub Enterprise).
	AuthURL  string `json:"auth_url,omitempty"`
	TokenURL string `json:"token_url,omitempty"`
	APIURL   string `json:"api_url,omitempty"`

	// TrustedCA is a PEM file of CA certificates the upstream's HTTPS
	// certificate may chain to, besides the system roots (an identity
	// provider behind a private CA). Default: system roots only.
	TrustedCA string `json:"trusted_ca,omitempty"`

	// Timeout bounds each HTTP call to the upstream (discovery, keys,
	// token, user info). Default: 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

const (
	kindOIDC   = "oidc"
	kindGitHub = "github"

	defaultUpstreamTimeout = 10 * time.Second
)

var upstreamNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// upstream is a provisioned Upstream.
type upstream struct {
	name, label, kind string
	issuer            string
	clientID, secret  string
	scopes            []string
	authURL, tokenURL string // github
	apiURL            string // github
	client            *http.Client

	mu         sync.Mutex
	discovered *gooidc.Provider // OpenID Connect, fetched on first use
}

// provisionUpstreams checks the upstream blocks and builds them, in the
// order of the config (the order of the buttons). It does no I/O beyond
// reading trusted_ca: discovery happens on first use, so a provider that
// is down at start does not stop Caddy.
func provisionUpstreams(repl *caddy.Replacer, list []*Upstream) ([]*upstream, error) {
	var out []*upstream
	seen := map[string]bool{}
	for _, cfg := range list {
		if !upstreamNameRE.MatchString(cfg.Name) || cfg.Name == "credential" {
			return nil, fmt.Errorf("upstream %q: the name must be lower-case letters, digits, - and _ (and not credential)", cfg.Name)
		}
		if seen[cfg.Name] {
			return nil, fmt.Errorf("upstream %s is declared twice", cfg.Name)
		}
		seen[cfg.Name] = true
		u := &upstream{name: cfg.Name, label: cfg.Label, kind: kindOIDC, scopes: cfg.Scopes,
			issuer:   strings.TrimRight(repl.ReplaceKnown(cfg.Issuer, ""), "/"),
			clientID: repl.ReplaceKnown(cfg.ClientID, ""), secret: repl.ReplaceKnown(cfg.ClientSecret, "")}
		if u.clientID == "" || u.secret == "" {
			return nil, fmt.Errorf("upstream %s: client_id and client_secret are required (and must not expand to empty values)", cfg.Name)
		}
		switch cfg.Name {
		case "google":
			u.label = firstNonEmpty(u.label, "Google")
			u.issuer = firstNonEmpty(u.issuer, "https://accounts.google.com")
		case "github":
			u.kind = kindGitHub
			u.label = firstNonEmpty(u.label, "GitHub")
			u.issuer = firstNonEmpty(u.issuer, "https://github.com")
			u.authURL = firstNonEmpty(cfg.AuthURL, u.issuer+"/login/oauth/authorize")
			u.tokenURL = firstNonEmpty(cfg.TokenURL, u.issuer+"/login/oauth/access_token")
			api := "https://api.github.com"
			if u.issuer != "https://github.com" {
				api = u.issuer + "/api/v3"
			}
			u.apiURL = strings.TrimRight(firstNonEmpty(cfg.APIURL, api), "/")
			if len(u.scopes) == 0 {
				u.scopes = []string{"read:user", "user:email"}
			}
		default:
			if u.issuer == "" {
				return nil, fmt.Errorf("upstream %s: issuer is required (only google and github have a default)", cfg.Name)
			}
			u.label = firstNonEmpty(u.label, cfg.Name)
		}
		if u.kind != kindGitHub && (cfg.AuthURL != "" || cfg.TokenURL != "" || cfg.APIURL != "") {
			return nil, fmt.Errorf("upstream %s: auth_url, token_url and api_url are for github; OpenID Connect endpoints come from discovery", cfg.Name)
		}
		for _, raw := range []string{u.issuer, u.authURL, u.tokenURL, u.apiURL} {
			if raw == "" {
				continue
			}
			if pu, err := url.Parse(raw); err != nil || pu.Scheme != "https" || pu.Host == "" {
				return nil, fmt.Errorf("upstream %s: %q must be an https URL", cfg.Name, raw)
			}
		}
		if len(u.scopes) == 0 {
			u.scopes = []string{"openid", "email", "profile"}
		}
		if u.kind == kindOIDC && !contains(u.scopes, "openid") {
			return nil, fmt.Errorf("upstream %s: scopes must include openid", cfg.Name)
		}
		timeout := time.Duration(cfg.Timeout)
		if timeout <= 0 {
			timeout = defaultUpstreamTimeout
		}
		client, err := upstreamClient(timeout, cfg.TrustedCA)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: %v", cfg.Name, err)
		}
		u.client = client
		out = append(out, u)
	}
	return out, nil
}

// upstreamClient is the HTTP client of one upstream: every call bounded by
// timeout, no cookies, and trustedCA (a PEM file) added to the system roots.
func upstreamClient(timeout time.Duration, trustedCA string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: timeout}).DialContext
	tr.TLSHandshakeTimeout = timeout
	tr.ResponseHeaderTimeout = timeout
	if trustedCA != "" {
		pem, err := os.ReadFile(trustedCA)
		if err != nil {
			return nil, fmt.Errorf("trusted_ca: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("trusted_ca: %s holds no PEM certificate", trustedCA)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: timeout,
		// The token and API endpoints never redirect; following one could
		// send the token elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

// context carries the upstream's client to x/oauth2 and go-oidc.
func (u *upstream) context(ctx context.Context) context.Context {
	return gooidc.ClientContext(context.WithValue(ctx, oauth2.HTTPClient, u.client), u.client)
}

// provider returns the OpenID Connect provider, fetching discovery once;
// a failure is not cached, so the next sign-in tries again.
func (u *upstream) provider(ctx context.Context) (*gooidc.Provider, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.discovered != nil {
		return u.discovered, nil
	}
	// The keys are fetched later with this context's client only (go-oidc
	// keeps the client, not the deadline).
	p, err := gooidc.NewProvider(u.context(ctx), u.issuer)
	if err != nil {
		return nil, err
	}
	u.discovered = p
	return p, nil
}

// oauth2Config is the upstream leg's client configuration; redirect is our
// callback URL.
func (u *upstream) oauth2Config(ctx context.Context, redirect string) (*oauth2.Config, error) {
	cfg := &oauth2.Config{ClientID: u.clientID, ClientSecret: u.secret, RedirectURL: redirect, Scopes: u.scopes}
	if u.kind == kindGitHub {
		cfg.Endpoint = oauth2.Endpoint{AuthURL: u.authURL, TokenURL: u.tokenURL, AuthStyle: oauth2.AuthStyleInParams}
		return cfg, nil
	}
	p, err := u.provider(ctx)
	if err != nil {
		return nil, err
	}
	cfg.Endpoint = p.Endpoint()
	return cfg, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
