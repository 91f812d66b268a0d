package apierror

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type countingBody struct {
	r    io.Reader
	read int
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	return n, err
}
func (b *countingBody) Close() error { return nil }

func TestDrainBody(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size       int64
		known      bool
		wantReadAt int
	}{
		{"small body, length known", 50, true, 50},
		{"unknown length, read up to the limit", drainLimit + 10, false, drainLimit},
		{"larger than the limit: not waited for", drainLimit + 1, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &countingBody{r: strings.NewReader(strings.Repeat("x", int(tc.size)))}
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Body = body
			r.ContentLength = -1
			if tc.known {
				r.ContentLength = tc.size
			}
			DrainBody(httptest.NewRecorder(), r)
			if body.read != tc.wantReadAt {
				t.Fatalf("read %d bytes, want %d", body.read, tc.wantReadAt)
			}
		})
	}
	// No body at all: nothing to do.
	DrainBody(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}
