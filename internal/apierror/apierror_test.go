package apierror

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPlatformEnvelope(t *testing.T) {
	rec := httptest.NewRecorder()
	New(http.StatusTooManyRequests, "rate_limited", `limit "reached"`).With("limit", 20).With("window", "24h").With("code", "ignored").Write(rec)
	if rec.Code != 429 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d headers %v", rec.Code, rec.Header())
	}
	want := `{"error":{"code":"rate_limited","message":"limit \"reached\"","limit":20,"window":"24h"}}` + "\n"
	if rec.Body.String() != want {
		t.Fatalf("body %s, want %s", rec.Body, want)
	}
	var v map[string]map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
}

func TestOAuthEnvelope(t *testing.T) {
	rec := httptest.NewRecorder()
	NewOAuth(0, "invalid_grant", "bad\r\n\"code\"").Write(rec)
	want := `{"error":"invalid_grant","error_description":"bad   code "}` + "\n"
	if rec.Code != 400 || rec.Body.String() != want {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestUnencodableDetailKeepsEnvelope(t *testing.T) {
	e := New(400, "bad", "m").With("f", func() {})
	if string(e.Body()) != `{"error":{"code":"bad","message":"m"}}`+"\n" {
		t.Fatalf("%s", e.Body())
	}
}
