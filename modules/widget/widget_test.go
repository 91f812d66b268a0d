package widget

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// The widget's whole download (every embedded file, gzipped as served) stays
// under 30 KB; the figure is printed so CI logs show it.
func TestWidgetSize(t *testing.T) {
	const limit = 30 * 1024
	total := 0
	for _, a := range Assets() {
		t.Logf("%s: %d bytes, %d gzipped", a.Name, len(a.Body), len(a.Gzip))
		total += len(a.Gzip)
	}
	t.Logf("widget total: %d bytes gzipped (limit %d)", total, limit)
	if total > limit {
		t.Fatalf("the widget is %d bytes gzipped, over the %d-byte budget", total, limit)
	}
}

func serve(t *testing.T, w *Widget, method, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	if err := w.ServeHTTP(rec, req, nil); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestServesEmbeddedFiles(t *testing.T) {
	w := new(Widget)
	for name, ct := range map[string]string{"intellistack-tutor.js": "text/javascript; charset=utf-8", "intellistack-tutor.css": "text/css; charset=utf-8"} {
		rec := serve(t, w, http.MethodGet, "/assets/tutor/"+name, nil)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != ct || rec.Header().Get("Cache-Control") != "no-cache" ||
			rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Content-Encoding") != "" {
			t.Fatalf("%s: %d %v", name, rec.Code, rec.Header())
		}
		if rec.Body.String() != string(assets[name].Body) {
			t.Fatalf("%s: body differs", name)
		}
		etag := rec.Header().Get("ETag")
		if !strings.HasPrefix(etag, `"`) {
			t.Fatalf("%s: ETag %q", name, etag)
		}
		// Revalidation: 304 without a body, weak or listed tags included.
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			rec := serve(t, w, http.MethodGet, "/x/"+name, http.Header{"If-None-Match": {inm}})
			if rec.Code != 304 || rec.Body.Len() != 0 {
				t.Fatalf("%s If-None-Match %s: %d", name, inm, rec.Code)
			}
		}
		if rec := serve(t, w, http.MethodGet, "/"+name, http.Header{"If-None-Match": {`"stale"`}}); rec.Code != 200 {
			t.Fatalf("stale ETag: %d", rec.Code)
		}
	}
}

func TestGzip(t *testing.T) {
	w := new(Widget)
	rec := serve(t, w, http.MethodGet, "/intellistack-tutor.js", http.Header{"Accept-Encoding": {"br, gzip;q=0.8"}})
	if rec.Header().Get("Content-Encoding") != "gzip" || rec.Header().Get("Vary") != "Accept-Encoding" {
		t.Fatalf("headers %v", rec.Header())
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if string(plain) != string(assets["intellistack-tutor.js"].Body) {
		t.Fatal("gzip body does not inflate to the file")
	}
	if rec := serve(t, w, http.MethodGet, "/intellistack-tutor.js", http.Header{"Accept-Encoding": {"gzip;q=0"}}); rec.Header().Get("Content-Encoding") != "" {
		t.Fatal("gzip;q=0 still got gzip")
	}
}

func TestRefusals(t *testing.T) {
	w := new(Widget)
	if rec := serve(t, w, http.MethodGet, "/assets/tutor/../../etc/passwd", nil); rec.Code != 404 || !strings.Contains(rec.Body.String(), `"not_found"`) {
		t.Fatalf("unknown file: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(t, w, http.MethodGet, "/assets/tutor/", nil); rec.Code != 404 {
		t.Fatalf("folder: %d", rec.Code)
	}
	rec := serve(t, w, http.MethodPost, "/intellistack-tutor.js", nil)
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d", rec.Code)
	}
	if rec := serve(t, w, http.MethodHead, "/intellistack-tutor.js", nil); rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
		t.Fatalf("HEAD: %d %d", rec.Code, rec.Body.Len())
	}
}

func TestMaxAge(t *testing.T) {
	w := &Widget{MaxAge: caddy.Duration(3600e9)}
	if rec := serve(t, w, http.MethodGet, "/intellistack-tutor.css", nil); rec.Header().Get("Cache-Control") != "public, max-age=3600" {
		t.Fatalf("Cache-Control %q", rec.Header().Get("Cache-Control"))
	}
	if err := (&Widget{MaxAge: -1}).Validate(); err == nil {
		t.Fatal("negative max_age accepted")
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		in, err string
		maxAge  caddy.Duration
	}{
		{in: "tutor_widget"},
		{in: "tutor_widget {\n max_age 10m\n}", maxAge: caddy.Duration(600e9)},
		{in: "tutor_widget extra", err: "wrong argument count"},
		{in: "tutor_widget {\n max_age\n}", err: "wrong argument count"},
		{in: "tutor_widget {\n max_age soon\n}", err: "max_age"},
		{in: "tutor_widget {\n color red\n}", err: "unknown tutor_widget option"},
	} {
		var w Widget
		err := w.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || w.MaxAge != tc.maxAge {
			t.Errorf("%q: %v %v", tc.in, w.MaxAge, err)
		}
	}
}

// The widget's JavaScript keeps model output out of innerHTML: the source
// never assigns HTML from a string (a cheap guard; the browser test proves
// the rendering).
func TestNoHTMLSinks(t *testing.T) {
	js := string(assets["intellistack-tutor.js"].Body)
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(js, sink) {
			t.Errorf("the widget uses %s", sink)
		}
	}
}
