// Command widget measures <intellistack-tutor> in headless Chromium against
// the dev site's pages served by Caddy in this process, side by side with a
// baseline that does the same steps without the widget:
//
//  1. page load to widget ready (the "intellistack-tutor:ready" performance
//     mark) on a lesson page, against a bare page whose inline module marks
//     itself run: the difference is what the widget's download, parse and
//     start-up add. Target: ready < 300 ms.
//  2. send to first rendered token (the widget's "send" and "first-token"
//     marks: the first text delta in the DOM), against fetch() calling the
//     same ChatKit endpoint directly from a bare page and putting the first
//     delta into the DOM. Target: < 50 ms added.
//
// Both use the echo responder (no model), SQLite, plain HTTP on loopback and
// a bench_identity in place of bearer_jwt, so only the widget differs.
// Run from the checkout's root: go run ./bench/widget [-n 30]
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/chromedp/chromedp"

	_ "github.com/intellistack/intellistack"
	"github.com/intellistack/intellistack/bench/internal/benchkit"
	"github.com/intellistack/intellistack/modules/widget"
)

func init() {
	caddy.RegisterModule(benchIdentity{})
	httpcaddyfile.RegisterHandlerDirective("bench_identity", func(httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		return new(benchIdentity), nil
	})
}

// benchIdentity makes every request with an Authorization header the user
// "bench", standing in for bearer_jwt so that token checks are not measured.
type benchIdentity struct{}

func (benchIdentity) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.bench_identity", New: func() caddy.Module { return new(benchIdentity) }}
}

func (benchIdentity) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.Header.Get("Authorization") != "" {
		r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer).Set("http.auth.user.id", "bench")
	}
	return next.ServeHTTP(w, r)
}

// direct is the baseline page: a module that marks itself run, and a
// function that sends threads.create with fetch and puts the first text
// delta into the DOM.
const direct = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>direct</title>
<script type="module">
performance.mark('direct:ready');
window.directAsk = async (text) => {
  const out = document.getElementById('out');
  const t0 = performance.now();
  const r = await fetch('/api/v1/chatkit', {method: 'POST', headers: {'Content-Type': 'application/json', Authorization: 'Bearer bench'},
    body: JSON.stringify({type: 'threads.create', params: {input: {content: [{type: 'input_text', text}], attachments: [], inference_options: {}}}})});
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return -1;
    buf += value;
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const ev = JSON.parse(buf.slice(6, end));
      buf = buf.slice(end + 2);
      if (ev.update && ev.update.delta) {
        out.textContent = ev.update.delta;
        const t = performance.now() - t0;
        reader.cancel();
        return t;
      }
    }
  }
};
</script></head><body><main><p id="out"></p></main></body></html>`

func main() {
	n := flag.Int("n", 30, "measured page loads and sends per side")
	flag.Parse()
	chromium := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		fmt.Println("widget: Chromium is not installed; skipped")
		return
	}
	if _, err := os.Stat("site/lesson.html"); err != nil {
		fmt.Println("widget: run from the checkout's root (site/ not found)")
		os.Exit(1)
	}

	dir, err := os.MkdirTemp("", "widget-bench-")
	benchkit.Must(err)
	defer os.RemoveAll(dir)
	port := benchkit.FreePort()
	cfg := benchkit.GlobalOptions(port, dir, filepath.Join(dir, "bench.db")) + `
http://localhost {
	handle /api/v1/chatkit {
		route {
			bench_identity
			chatkit {
				responder echo
			}
		}
	}
	handle /assets/tutor/* {
		tutor_widget
	}
	handle /bench/direct {
		header Content-Type "text/html; charset=utf-8"
		respond ` + "`" + direct + "`" + ` 200
	}
	handle {
		root * site
		@lesson path_regexp lesson ^/lessons/(stage-[0-9]+)/([a-z0-9-]+)$
		rewrite @lesson /lesson.html
		templates @lesson {
			root examples/course
		}
		file_server
	}
}`
	adapter := caddyconfig.GetAdapter("caddyfile")
	js, _, err := adapter.Adapt([]byte(cfg), nil)
	benchkit.Must(err)
	benchkit.Must(caddy.Load(js, true))
	defer caddy.Stop()
	base := "http://localhost:" + strconv.Itoa(port)

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
	)...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()

	lesson := base + "/lessons/stage-1/01-variables-and-types"
	// A token the widget accepts as present (bench_identity does not check it).
	seed := `sessionStorage.clear(); sessionStorage.setItem('intellistack-tutor:web', JSON.stringify({access_token: 'bench.e30.bench', expires_at: Date.now() + 36e5})); true`
	must(chromedp.Do(ctx, chromedp.Navigate(lesson)))
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](seed))
	benchkit.Must(err)

	var widgetReady, directReady, widgetToken, directToken []time.Duration
	for i := 0; i < *n+3; i++ { // the first 3 rounds warm up caches
		// Widget: load the lesson, wait for ready, send, wait for the first token.
		must(chromedp.Do(ctx, chromedp.Navigate(lesson)))
		ready := waitMark(ctx, "intellistack-tutor:ready")
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
			sessionStorage.removeItem('intellistack-tutor:web:thread');
			const w = document.querySelector('intellistack-tutor');
			w.ask('How do for loops work?');
			return true;
		})()`))
		benchkit.Must(err)
		token := waitMark(ctx, "intellistack-tutor:first-token") - waitMark(ctx, "intellistack-tutor:send")

		// Direct: a bare page, fetch, first delta into the DOM.
		must(chromedp.Do(ctx, chromedp.Navigate(base+"/bench/direct")))
		dready := waitMark(ctx, "direct:ready")
		d, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`directAsk('How do for loops work?')`, chromedp.EvalAwaitPromise))
		benchkit.Must(err)
		if i < 3 {
			continue
		}
		widgetReady = append(widgetReady, ms(ready))
		directReady = append(directReady, ms(dready))
		widgetToken = append(widgetToken, ms(token))
		directToken = append(directToken, ms(d))
	}

	fmt.Printf("widget bench: %d rounds in headless Chromium, echo responder, SQLite, HTTP on loopback\n", *n)
	total := 0
	for _, a := range widget.Assets() {
		fmt.Printf("%-44s %10d bytes gzipped (%d plain)\n", a.Name, len(a.Gzip), len(a.Body))
		total += len(a.Gzip)
	}
	fmt.Printf("%-44s %10d bytes gzipped (budget 30720)\n", "widget total", total)
	fmt.Printf("%-44s %10s %10s\n", "", "p50", "p90")
	report("page load → widget ready", widgetReady)
	report("page load → bare module run (baseline)", directReady)
	fmt.Printf("%-44s %10s %10s   (target: ready < 300ms)\n", "added by the widget",
		added(widgetReady, directReady, 50), added(widgetReady, directReady, 90))
	report("send → first token rendered (widget)", widgetToken)
	report("send → first token rendered (fetch)", directToken)
	fmt.Printf("%-44s %10s %10s   (target < 50ms)\n", "added by the widget",
		added(widgetToken, directToken, 50), added(widgetToken, directToken, 90))
	if p := benchkit.Percentile(directToken, 50); p > 0 {
		fmt.Printf("%-44s %10.2fx\n", "ratio widget / fetch (first token, p50)", float64(benchkit.Percentile(widgetToken, 50))/float64(p))
	}
}

// waitMark polls for a performance mark and returns its time since the
// navigation started, in milliseconds.
func waitMark(ctx context.Context, name string) float64 {
	expr := `(performance.getEntriesByName(` + strconv.Quote(name) + `)[0] || {startTime: -1}).startTime`
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](expr)); err == nil && v >= 0 {
			return v
		}
	}
	panic("no performance mark " + name)
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

func must(err error) { benchkit.Must(err) }

func report(name string, d []time.Duration) {
	fmt.Printf("%-44s %10s %10s\n", name, benchkit.Percentile(d, 50).Round(100*time.Microsecond), benchkit.Percentile(d, 90).Round(100*time.Microsecond))
}

// added is a's percentile p minus b's, rounded for printing.
func added(a, b []time.Duration, p int) time.Duration {
	return (benchkit.Percentile(a, p) - benchkit.Percentile(b, p)).Round(100 * time.Microsecond)
}
