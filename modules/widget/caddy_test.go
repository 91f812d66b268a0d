package widget_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/widget"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func TestAdaptGolden(t *testing.T) {
	testutil.AssertAdaptGolden(t, "testdata/adapt")
}

// Through Caddy: the directive under a path prefix, next to a catch-all
// respond that must not answer the widget's files; encode gzip in front does
// not double-compress (the handler sends Content-Encoding itself).
func TestWidgetInCaddy(t *testing.T) {
	c := testutil.StartCaddy(t, `https://localhost {
	encode gzip
	tutor_widget /assets/tutor/*
	respond "site"
}`)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Client.Get(c.URL(path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, a := range widget.Assets() {
		resp, body := get("/assets/tutor/" + a.Name)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != a.ContentType || body != string(a.Body) || resp.Header.Get("ETag") != a.ETag {
			t.Fatalf("%s: %d %v (%d bytes)", a.Name, resp.StatusCode, resp.Header, len(body))
		}
	}
	if resp, _ := get("/assets/tutor/nope.js"); resp.StatusCode != 404 {
		t.Fatalf("unknown file: %d", resp.StatusCode)
	}
	if _, body := get("/lessons/x"); body != "site" {
		t.Fatalf("other paths: %q", body)
	}
}
