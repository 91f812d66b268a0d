// Package widget serves <intellistack-tutor>, the tutor's self-hosted chat
// widget (a plain ES module and its stylesheet, embedded in the binary), so a
// course site needs neither OpenAI's CDN nor a build step:
//
//	tutor_widget /assets/tutor/*
//
//	<script type="module" src="/assets/tutor/intellistack-tutor.js"></script>
//	<intellistack-tutor endpoint="/api/v1/chatkit" client-id="web"></intellistack-tutor>
package widget

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/internal/apierror"
)

//go:embed assets
var embedded embed.FS

func init() {
	caddy.RegisterModule(Widget{})
}

// Asset is one embedded file, prepared once: its bytes, its gzip form and a
// strong ETag over the bytes.
type Asset struct {
	Name        string
	ContentType string
	Body        []byte
	Gzip        []byte
	ETag        string
}

// assets is built once at start: the files never change in a running binary.
var assets = mustLoad(embedded)

func mustLoad(fsys fs.FS) map[string]*Asset {
	m, err := load(fsys)
	if err != nil {
		panic(err)
	}
	return m
}

func load(fsys fs.FS) (map[string]*Asset, error) {
	out := map[string]*Asset{}
	entries, err := fs.ReadDir(fsys, "assets")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		body, err := fs.ReadFile(fsys, "assets/"+e.Name())
		if err != nil {
			return nil, err
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(body)
		if err := zw.Close(); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(e.Name()))
		switch path.Ext(e.Name()) { // not left to the host's mime.types
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		}
		out[e.Name()] = &Asset{Name: e.Name(), ContentType: ct, Body: body, Gzip: gz.Bytes(),
			ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return out, nil
}

// Assets lists the embedded files by name (for the size check and tests).
func Assets() []*Asset {
	list := make([]*Asset, 0, len(assets))
	for _, a := range assets {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

// Widget serves the embedded widget files by the last element of the request
// path (so it works under any prefix: /assets/tutor/intellistack-tutor.js),
// gzip-compressed when the client accepts it, with a strong ETag. Other names
// are 404. It is a responder: it never calls the next handler.
//
//	tutor_widget [<matcher>] {
//		max_age <duration>
//	}
type Widget struct {
	// MaxAge is how long browsers may use a copy without asking again
	// (Cache-Control max-age). Default: 0, which sends `no-cache`: every use
	// revalidates with the ETag (a 304 without a body), so a new binary's
	// widget is picked up at once. The file names carry no version, so a
	// long max-age delays upgrades by that long.
	MaxAge caddy.Duration `json:"max_age,omitempty"`

	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Widget) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.tutor_widget",
		New: func() caddy.Module { return new(Widget) },
	}
}

// Provision takes the logger.
func (w *Widget) Provision(ctx caddy.Context) error {
	w.logger = ctx.Logger()
	return nil
}

// Validate refuses a negative max_age.
func (w *Widget) Validate() error {
	if w.MaxAge < 0 {
		return fmt.Errorf("tutor_widget: max_age must not be negative")
	}
	return nil
}

func (w *Widget) cacheControl() string {
	if w.MaxAge <= 0 {
		return "no-cache"
	}
	return "public, max-age=" + strconv.Itoa(int(time.Duration(w.MaxAge).Seconds()))
}

// ServeHTTP answers GET and HEAD for the embedded files.
func (w *Widget) ServeHTTP(rw http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rw.Header().Set("Allow", "GET, HEAD")
		apierror.New(http.StatusMethodNotAllowed, "method_not_allowed", "only GET and HEAD").Write(rw)
		return nil
	}
	a, ok := assets[path.Base(r.URL.Path)]
	if !ok {
		apierror.New(http.StatusNotFound, "not_found", "no such widget file").Write(rw)
		return nil
	}
	h := rw.Header()
	h.Set("Content-Type", a.ContentType)
	h.Set("Cache-Control", w.cacheControl())
	h.Set("ETag", a.ETag)
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	if etagMatches(r.Header.Get("If-None-Match"), a.ETag) {
		rw.WriteHeader(http.StatusNotModified)
		return nil
	}
	body := a.Body
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body = a.Gzip
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	rw.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := rw.Write(body)
	return err
}

// etagMatches implements If-None-Match's weak comparison (RFC 9110 §13.1.2).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether Accept-Encoding allows gzip (q=0 refuses it).
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.TrimSpace(name) != "*" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}

var (
	_ caddyhttp.MiddlewareHandler = (*Widget)(nil)
	_ caddy.Provisioner           = (*Widget)(nil)
	_ caddy.Validator             = (*Widget)(nil)
)
