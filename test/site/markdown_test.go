package site_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/intellistack/intellistack/internal/testutil"
)

// The widget's Markdown renderer, on hostile input, in Chromium: only the
// elements it builds itself come out, no attribute runs script, and every
// link is http(s). Each case also says what must be there.
func TestMarkdownRendererIsInert(t *testing.T) {
	testutil.SkipIfShort(t)
	ctx := NewBrowser(t, 2*time.Minute)
	c := testutil.StartCaddy(t, `https://localhost {
	handle /assets/tutor/* {
		tutor_widget
	}
	handle {
		header Content-Type "text/html; charset=utf-8"
		respond "<!doctype html><html lang=en><title>md</title><main></main></html>"
	}
}`)
	Run(t, ctx, chromedp.Navigate(c.URL("/")))
	cases := []struct{ in, want string }{
		{`<img src=x onerror="window.pwned=1">`, `<p>&lt;img src=x onerror="window.pwned=1"&gt;</p>`},
		{`<script>window.pwned=1</script>`, `<p>&lt;script&gt;window.pwned=1&lt;/script&gt;</p>`},
		{`[x](javascript:window.pwned=1)`, `<p>x</p>`},
		{`[x](JavaScript:window.pwned=1)`, `<p>x</p>`},
		{`[x](data:text/html,<script>window.pwned=1</script>)`, `<p>x</p>`},
		{`[x](vbscript:msgbox)`, `<p>x</p>`},
		{`[ok](https://example.com/a?b=1&c=2)`, `<p><a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">ok</a></p>`},
		{`[lesson](/lessons/stage-1/01-variables-and-types)`, `href="https://localhost:`},
		{`[**bold** link](https://example.com/)`, `<strong>bold</strong> link</a>`},
		{"```html\n<b onmouseover=\"window.pwned=1\">x</b>\n```", `<pre><code class="language-html">&lt;b onmouseover="window.pwned=1"&gt;x&lt;/b&gt;</code></pre>`},
		{"```\" onload=\"window.pwned=1\nx\n```", `<pre><code>x</code></pre>`},
		{"# Title <i>x</i>\n- a `<b>`\n- [c](javascript:1)", `<h3>Title &lt;i&gt;x&lt;/i&gt;</h3><ul><li>a <code>&lt;b&gt;</code></li><li>c</li></ul>`},
		{"> quote <svg onload=alert(1)>", `<blockquote>quote &lt;svg onload=alert(1)&gt;</blockquote>`},
		{`see [1] and [2]`, `<p>see <a href="https://example.com/one" class="cite" title="One">[1]</a> and [2]</p>`},
		{`![pic](https://example.com/x.png)`, `<p>!<a href="https://example.com/x.png"`},
		{"**a *b* `c`** _d_", `<p><strong>a <em>b</em> <code>c</code></strong> <em>d</em></p>`},
	}
	var inputs []string
	for _, tc := range cases {
		inputs = append(inputs, tc.in)
	}
	raw, _ := json.Marshal(inputs)
	// The second source's URL is unsafe, as a model-made annotation could be:
	// the widget passes sources through safeHref before rendering, so here it
	// arrives empty and [2] stays text.
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`import('/assets/tutor/intellistack-tutor.js').then(m => {
		const sources = [{title: 'One', href: m.safeHref('https://example.com/one')}, {title: 'Two', href: m.safeHref('javascript:alert(1)')}];
		const allowed = new Set(['P', 'STRONG', 'EM', 'CODE', 'PRE', 'A', 'UL', 'OL', 'LI', 'BLOCKQUOTE', 'H3', 'H4', 'H5', 'H6']);
		return JSON.stringify(`+string(raw)+`.map(text => {
			const box = document.createElement('div');
			box.append(m.renderMarkdown(text, sources));
			const bad = [...box.querySelectorAll('*')].filter(n => !allowed.has(n.tagName) ||
				[...n.attributes].some(a => a.name.startsWith('on') || (a.name === 'href' && !/^https?:/.test(n.href))));
			return {html: box.innerHTML, bad: bad.map(n => n.outerHTML)};
		}));
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	var results []struct {
		HTML string
		Bad  []string
	}
	if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != len(cases) {
		t.Fatalf("results %v: %s", err, out)
	}
	for i, tc := range cases {
		t.Logf("%q → %s", tc.in, results[i].HTML)
		if len(results[i].Bad) > 0 {
			t.Errorf("%q rendered unsafe nodes %v", tc.in, results[i].Bad)
		}
		if !strings.Contains(results[i].HTML, tc.want) {
			t.Errorf("%q rendered\n%s\nwant it to contain\n%s", tc.in, results[i].HTML, tc.want)
		}
	}
	if pwned := Eval[bool](t, ctx, `window.pwned !== undefined`); pwned {
		t.Fatal("a payload ran")
	}
}
