package jwtauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/jwtauth/bearer"
)

func requestWithVars() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	return r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
}

func TestErrorWriter(t *testing.T) {
	t.Parallel()
	e := &ErrorWriter{logger: zap.NewNop()}
	notAuthed := caddyhttp.Error(http.StatusUnauthorized, errors.New("not authenticated"))

	// A bearer_jwt refusal becomes its own status and JSON body.
	r := requestWithVars()
	w := httptest.NewRecorder()
	err := e.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		caddyhttp.SetVar(r.Context(), refusalVar, &refusalRecord{Refusal: bearer.RefuseRole()})
		return notAuthed
	}))
	if err != nil || w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), `"reason":"role_required"`) ||
		!strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer error="insufficient_scope"`) {
		t.Fatalf("refusal: err %v, %d %q %v", err, w.Code, w.Body.String(), w.Header())
	}
	var body struct {
		Error map[string]string `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Error) != 3 || body.Error["code"] != "insufficient_scope" ||
		body.Error["message"] == "" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("envelope: %v %q %v", err, w.Body.String(), w.Header())
	}
	if caddyhttp.GetVar(r.Context(), refusalVar) != nil {
		t.Fatal("the refusal is still recorded after it was answered")
	}

	// A 503 carries Retry-After.
	w = httptest.NewRecorder()
	_ = e.ServeHTTP(w, requestWithVars(), caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		caddyhttp.SetVar(r.Context(), refusalVar, &refusalRecord{Refusal: bearer.RefuseNoKeys, retryAfter: 7})
		return notAuthed
	}))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "7" || w.Header().Get("WWW-Authenticate") != "" {
		t.Fatalf("503: %d %v", w.Code, w.Header())
	}

	// Anything else passes through for handle_errors: other providers'
	// 401s, downstream errors, success.
	for _, want := range []error{notAuthed, caddyhttp.Error(http.StatusBadGateway, errors.New("upstream")), nil} {
		w = httptest.NewRecorder()
		got := e.ServeHTTP(w, requestWithVars(), caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return want }))
		if got != want || w.Body.Len() != 0 {
			t.Fatalf("pass-through of %v: got %v, body %q", want, got, w.Body.String())
		}
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	p := &Provider{RequireRoles: []string{"instructor"}, HeaderUp: true, Claims: []string{"stage"},
		HeaderNames: map[string]string{"stage": "X-User-Stage", "id": "X-Sub"}}
	p.setupHeaders()
	id := &bearer.Identity{Subject: "u1", Email: "a@b.c\r\nX-Evil: 1", Roles: []string{"student", "instructor"},
		Role: "student,instructor", Extra: map[string]string{"stage": "3"}}
	v := p.judge(id)
	if v.refusal != nil || v.user.ID != "u1" || v.user.Metadata["stage"] != "3" || v.user.Metadata["email_verified"] != "false" {
		t.Fatalf("verdict: %+v", v)
	}
	got := map[string]string{}
	for _, h := range v.headers {
		got[h.name] = h.value
	}
	want := map[string]string{"X-Sub": "u1", "X-User-Email": "a@b.cX-Evil: 1", "X-User-Role": "student,instructor",
		"X-User-Email-Verified": "false", "X-User-Stage": "3"}
	if len(got) != len(want) {
		t.Fatalf("headers %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("header %s = %q, want %q", k, got[k], v)
		}
	}
	// Renamed headers are stripped as well as the defaults.
	if !contains(p.strip, "X-Sub") || !contains(p.strip, "X-User-Id") || !contains(p.strip, "X-User-Stage") {
		t.Fatalf("strip list %v", p.strip)
	}
	p.RequireVerifiedEmail = true
	id.Roles = []string{"student"}
	if v := p.judge(id); v.refusal == nil || v.refusal.Reason != "role_required" {
		t.Fatalf("missing role: %+v", v.refusal)
	}
	id.Roles = []string{"instructor"}
	if v := p.judge(id); v.refusal != bearer.RefuseUnverified {
		t.Fatalf("unverified email: %+v", v.refusal)
	}
	// The typed identity other modules read carries the same facts.
	id.Roles, id.Claims = []string{"student", "instructor"}, map[string]json.RawMessage{"stage": json.RawMessage("3")}
	p.RequireVerifiedEmail = false
	v = p.judge(id)
	if v.refusal != nil || v.identity.ID != "u1" || !v.identity.HasRole("instructor") || v.user.Metadata["role"] != "student,instructor" {
		t.Fatalf("identity %+v, metadata %v", v.identity, v.user.Metadata)
	}
	if stage, ok := v.identity.Claim("stage"); !ok || stage != "3" {
		t.Fatalf("stage claim %q %v", stage, ok)
	}
}
