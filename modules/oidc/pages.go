package oidc

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/apierror"
)

//go:embed templates/*.html
var defaultTemplates embed.FS

// pages renders the hosted pages. Operators theme them by putting files of
// the same names (layout.html, sign-in.html, sign-up.html, consent.html,
// error.html, message.html, logout.html, form-post.html, and with a mail
// block check-inbox.html, forgot-password.html, reset-password.html,
// change-password.html) in the `templates` directory; each defines the
// template of its name.
type pages struct {
	tmpl  *template.Template
	brand brand // every page's .Brand
}

func loadPages(dir string) (*pages, error) {
	t, err := template.ParseFS(defaultTemplates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	if dir != "" {
		files, err := filepath.Glob(filepath.Join(dir, "*.html"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			if _, err := os.Stat(dir); err != nil {
				return nil, fmt.Errorf("templates: %v", err)
			}
		}
		for _, f := range files {
			if t, err = t.ParseFiles(f); err != nil {
				return nil, fmt.Errorf("templates: %v", err)
			}
		}
	}
	for _, name := range []string{"sign-in", "sign-up", "consent", "error", "message", "logout", "form-post",
		"check-inbox", "forgot-password", "reset-password", "change-password"} {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("templates: %q is not defined", name)
		}
	}
	return &pages{tmpl: t}, nil
}

// pageHeaders are sent with every hosted page: no framing (RFC 9700 §4.16),
// no referrer beyond the origin (RFC 9700 §4.2), no caching, no third-party
// anything.
func pageHeaders(w http.ResponseWriter, scriptNonce, imgOrigin string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	script := "'none'"
	if scriptNonce != "" {
		script = "'nonce-" + scriptNonce + "'"
	}
	img := "'self' data:"
	if imgOrigin != "" {
		img += " " + imgOrigin // the branding logo's host
	}
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src "+img+"; script-src "+
		script+"; frame-ancestors 'none'; base-uri 'none'")
	// strict-origin, not no-referrer: with no-referrer a browser sends
	// "Origin: null" on the page's own form posts, which the CSRF origin
	// check must refuse. strict-origin still leaks no path or query (where
	// codes and states travel) to other sites, which is what RFC 9700 §4.2
	// asks.
	h.Set("Referrer-Policy", "strict-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// render writes a page with its status.
func (p *provider) render(w http.ResponseWriter, status int, name string, data map[string]any) {
	var buf bytes.Buffer
	if data == nil {
		data = map[string]any{}
	}
	if _, set := data["Brand"]; !set {
		data["Brand"] = p.pages.brand
	}
	if err := p.pages.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		p.logger.Error("rendering page", zap.String("page", name), zap.Error(err))
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString("<!doctype html><title>Error</title><p>The page could not be shown.</p>")
	}
	nonce, _ := data["Nonce"].(string)
	pageHeaders(w, nonce, p.pages.brand.imgOrigin)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage shows an error that must not be redirected (unknown client, bad
// redirect_uri: RFC 6749 §4.1.2.1, RFC 9700 §4.11).
func (p *provider) errorPage(w http.ResponseWriter, e *apierror.OAuth) {
	status := e.Status
	if status == 0 || status == http.StatusUnauthorized {
		status = http.StatusBadRequest
	}
	p.render(w, status, "error", map[string]any{"Title": "Something went wrong", "Code": e.Code, "Error": e.Description})
}
