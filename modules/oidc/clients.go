package oidc

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/intellistack/intellistack/internal/apierror"
)

// Client is an OAuth client (relying party) declared in the config.
type Client struct {
	// ID is the client_id.
	ID string `json:"id"`

	// RedirectURIs are compared byte for byte with the redirect_uri of a
	// request (RFC 9700 §2.1, §4.1); only the port of a loopback http://127.0.0.1 or
	// http://[::1] URI may differ (RFC 8252 §7.3).
	//
	//	redirect_uri <uri>
	RedirectURIs []string `json:"redirect_uris,omitempty"`

	// PostLogoutRedirectURIs are where end_session may send the browser
	// after sign-out, matched exactly.
	//
	//	post_logout_redirect_uri <uri>
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`

	// Public marks a client that cannot keep a secret (a browser or native
	// app): it authenticates with `none` and must use PKCE S256.
	//
	//	public
	Public bool `json:"public,omitempty"`

	// Secret is a confidential client's secret; use a placeholder such as
	// {env.WEB_CLIENT_SECRET}, expanded when the config loads.
	//
	//	secret <value>
	Secret string `json:"secret,omitempty"`

	// Scopes limits the scopes the client may request. Default: openid
	// profile email offline_access (offline_access yields refresh tokens
	// only with the offline_access option).
	//
	//	scope <scope…>
	Scopes []string `json:"scopes,omitempty"`

	// SkipConsent lets a first-party client skip the consent page.
	//
	//	skip_consent
	SkipConsent bool `json:"skip_consent,omitempty"`

	// OfflineAccess lets the client get refresh tokens: a code exchange
	// returns one only when the client has this option and the user granted
	// the offline_access scope (OpenID Connect Core §11). Without it the
	// client gets access and ID tokens only, and signs the user in again
	// when they expire. Default: off.
	//
	//	offline_access
	OfflineAccess bool `json:"offline_access,omitempty"`

	// Introspect marks a resource server: a confidential client that may
	// introspect tokens issued to any client (RFC 7662 §2.1). Other clients
	// learn only about their own tokens; for anyone else's they get
	// {"active":false}. Default: off.
	//
	//	introspect
	Introspect bool `json:"introspect,omitempty"`

	// Name is shown on the consent page. Default: the id.
	//
	//	name <text>
	Name string `json:"name,omitempty"`

	secretHash [32]byte
}

// supportedScopes are the scopes this provider knows.
var supportedScopes = []string{"openid", "profile", "email", "offline_access"}

// validateClient checks a client's registration: redirect URIs are
// absolute (RFC 6749 §3.1.2), https or loopback http (RFC 8252 §7.3), have
// no fragment (RFC 6749 §3.1.2), and are not javascript: or data: URIs (RFC
// 7591 §5).
func validateClient(c *Client) error {
	if c.ID == "" || strings.ContainsAny(c.ID, " \t\r\n:") {
		return fmt.Errorf("client id %q is empty or contains a space or colon", c.ID)
	}
	if c.Public == (c.Secret != "") {
		return fmt.Errorf("client %s: exactly one of `public` and `secret` is required", c.ID)
	}
	if len(c.RedirectURIs) == 0 {
		return fmt.Errorf("client %s: at least one redirect_uri is required", c.ID)
	}
	for _, list := range [][]string{c.RedirectURIs, c.PostLogoutRedirectURIs} {
		for _, raw := range list {
			if err := checkRegisteredURI(raw); err != nil {
				return fmt.Errorf("client %s: %v", c.ID, err)
			}
		}
	}
	for _, s := range c.Scopes {
		if !slices.Contains(supportedScopes, s) {
			return fmt.Errorf("client %s: unsupported scope %q (supported: %s)", c.ID, s, strings.Join(supportedScopes, " "))
		}
	}
	return nil
}

func checkRegisteredURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("redirect URI %q is not an absolute URL", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("redirect URI %q has a fragment", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) && u.Hostname() != "localhost" {
			return fmt.Errorf("redirect URI %q: http is allowed only for loopback addresses", raw)
		}
	default:
		return fmt.Errorf("redirect URI %q: scheme must be https (or http on loopback)", raw)
	}
	return nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// allowsRedirect is the exact-match rule (RFC 9700 §2.1, §4.1).
func (c *Client) allowsRedirect(uri string) bool {
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	// RFC 8252 §7.3: a native app's loopback redirect may use any port.
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) {
		return false
	}
	for _, reg := range c.RedirectURIs {
		r, err := url.Parse(reg)
		if err != nil || r.Scheme != "http" || !isLoopback(r.Hostname()) {
			continue
		}
		if r.Hostname() == u.Hostname() && r.EscapedPath() == u.EscapedPath() && r.RawQuery == u.RawQuery &&
			u.User == nil && r.User == nil && !strings.Contains(uri, "#") && reg == replacePort(uri, r.Port()) {
			return true
		}
	}
	return false
}

func replacePort(uri, port string) string {
	u, _ := url.Parse(uri)
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	u.Host = host
	return u.String()
}

// allowsScopes reports whether the client may request every scope.
func (c *Client) allowsScopes(scopes []string) (string, bool) {
	allowed := c.Scopes
	if len(allowed) == 0 {
		allowed = supportedScopes
	}
	for _, s := range scopes {
		if !slices.Contains(allowed, s) {
			return s, false
		}
	}
	return "", true
}

func (c *Client) displayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// checkSecret compares a presented secret with the configured one in
// constant time, through their hashes so the lengths leak nothing (RFC 6819
// §5.1.4.1.3).
func (c *Client) checkSecret(secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	return !c.Public && subtle.ConstantTimeCompare(sum[:], c.secretHash[:]) == 1
}

// authenticatedForm is how the token, revocation and introspection
// endpoints start: it reads the form body (RFC 6749 §3.2) and authenticates
// the client (authenticateClient); with confidential it refuses public
// clients too (introspection is for resource servers, RFC 7662 §2.1). On
// failure it has written the error, with a Basic challenge on every 401
// (RFC 6749 §5.2, RFC 7235 §3.1), and returns a nil client.
func (p *provider) authenticatedForm(w http.ResponseWriter, r *http.Request, confidential bool) (url.Values, *Client) {
	form, e := parseForm(w, r)
	if e != nil {
		e.Write(w)
		return nil, nil
	}
	c, e := p.authenticateClient(r, form)
	if e == nil && confidential && c.Public {
		e = errInvalidClient("introspection requires a confidential client")
	}
	if e != nil {
		if e.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+p.issuer+`"`)
		}
		e.Write(w)
		return nil, nil
	}
	return form, c
}

// authenticateClient implements client_secret_basic, client_secret_post and
// none (RFC 6749 §2.3.1, OpenID Connect Core §9). A client may use only one
// method (RFC 6749 §2.3); a confidential client must present its secret.
func (p *provider) authenticateClient(r *http.Request, form url.Values) (*Client, *apierror.OAuth) {
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		// RFC 6749 §2.3.1: both parts are form-urlencoded before Basic.
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, errInvalidClient("malformed Basic credentials")
		}
		if form.Has("client_secret") {
			return nil, errInvalidRequest("use only one client authentication method")
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return nil, errInvalidRequest("client_id differs from the authenticated client")
		}
	} else {
		id = form.Get("client_id")
		secret = form.Get("client_secret")
	}
	if id == "" {
		return nil, errInvalidClient("client authentication is required")
	}
	c := p.clients[id]
	if c == nil {
		return nil, errInvalidClient("unknown client")
	}
	switch {
	case c.Public && secret != "":
		// Basic with an empty password is accepted: some libraries send the
		// client_id that way for public clients.
		return nil, errInvalidClient("a public client authenticates with no secret")
	case c.Public:
		return c, nil
	case secret == "" || !c.checkSecret(secret):
		return nil, errInvalidClient("client authentication failed")
	}
	return c, nil
}
