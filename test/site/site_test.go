// Package site_test drives the dev site (the root Caddyfile: course pages,
// provider, bearer_jwt, quota, tutor and widget) in headless Chromium, as a
// student meets it. The model is internal/fakeopenai, scripted per step.
//
// Screenshots of each state go to $TEST_ARTIFACTS, or to
// test/site/testdata/artifacts (ignored by git) when it is unset.
package site_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	_ "github.com/intellistack/intellistack"
	"github.com/intellistack/intellistack/internal/fakeopenai"
	"github.com/intellistack/intellistack/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// repoRoot is the checkout's root (tests run in their package folder).
func repoRoot(t *testing.T) string {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// DevCaddyfile is the root Caddyfile made runnable by the harness: its
// fixed ports and relative paths replaced, the fake model added to the tutor
// and the quota set to quota messages. Every replaced text must be found, so
// a change to the Caddyfile breaks this test loudly instead of silently.
func DevCaddyfile(t *testing.T, outbox, modelURL string, quota int, extra ...[2]string) string {
	t.Helper()
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	cf := regexp.MustCompile(`(?m)^\s*(http_port|https_port|skip_install_trust)\b.*$`).ReplaceAllString(string(raw), "")
	for _, r := range append([][2]string{
		{"https://localhost:8443", "https://localhost:__HTTPS_PORT__"},
		{"outbox bin/outbox", "outbox " + outbox},
		{"path examples/course", "path " + filepath.Join(root, "examples/course")},
		{"root examples/course", "root " + filepath.Join(root, "examples/course")},
		{"root * site", "root * " + filepath.Join(root, "site")},
		{"limit 20 per 24h", fmt.Sprintf("limit %d per 24h", quota)},
		{"responder tutor {", "responder tutor {\n\t\t\t\t\tmodel openai {\n\t\t\t\t\t\tbase_url " + modelURL +
			"\n\t\t\t\t\t\tapi_key sk-test\n\t\t\t\t\t\tmodel tutor-test\n\t\t\t\t\t\tfirst_token_timeout 5s\n\t\t\t\t\t}"},
	}, extra...) {
		if !strings.Contains(cf, r[0]) {
			t.Fatalf("the dev Caddyfile no longer contains %q", r[0])
		}
		cf = strings.ReplaceAll(cf, r[0], r[1])
	}
	return cf
}

// NewBrowser starts a headless Chromium (a throwaway profile that accepts
// the internal CA's certificates) whose console and exceptions go to t.Logf.
func NewBrowser(t testing.TB, timeout time.Duration) context.Context {
	ctx := testutil.NewChromium(t, timeout, chromedp.WindowSize(1280, 900))
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value))
			}
			t.Logf("console.%s: %s", ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			t.Logf("page exception: %s %v", ev.ExceptionDetails.Text, ev.ExceptionDetails.Exception)
		}
	}); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	// Reduced motion: the widget then opens without its slide, so clicks
	// never aim at a moving panel (and the reduced-motion styles are used).
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}}})
		return err
	})); err != nil {
		t.Fatalf("emulating reduced motion: %v", err)
	}
	return ctx
}

// Shadow is a JS path to an element inside the widget's shadow root.
func Shadow(selector string) chromedp.JSPath {
	return chromedp.JSPath(shadow(selector))
}

func shadow(selector string) string {
	return `document.querySelector('intellistack-tutor').shadowRoot.querySelector(` + strconv.Quote(selector) + `)`
}

// WaitJS polls a JS expression until it is true.
func WaitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err == nil && ok {
			return
		}
	}
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('intellistack-tutor')?.shadowRoot?.querySelector('.panel')?.innerText || '') + '\n---\n' + document.body.innerText`))
	t.Fatalf("timed out waiting for %s (%s); page:\n%s", what, expr, body)
}

func Eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func Run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(step, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("browser: %v (at %s)\n%s", err, loc, body)
	}
}

// ArtifactsDir is where screenshots go: $TEST_ARTIFACTS/<test>, else
// testdata/artifacts (ignored by git).
func ArtifactsDir(t *testing.T) string {
	return testutil.ArtifactDir(t, "testdata/artifacts")
}

func Screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(ArtifactsDir(t), name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

var verifyLink = regexp.MustCompile(`https://localhost:\d+/oauth2/verify-email\?[^\s"<>]+`)

// VerificationLink waits for the sign-up mail in the outbox and returns its link.
func VerificationLink(t *testing.T, dir string) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			plain, _ := readAll(quotedprintable.NewReader(strings.NewReader(string(raw))))
			if m := verifyLink.FindString(plain); m != "" {
				return html.UnescapeString(m)
			}
		}
	}
	t.Fatalf("no verification mail in %s", dir)
	return ""
}

func readAll(r interface{ Read([]byte) (int, error) }) (string, error) {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String(), nil
		}
	}
}

// SignUp signs a new student up from the site's "Sign in" button: hosted
// sign-up page, verification link from the outbox, back on the page where
// sign-in started, signed in.
func SignUp(t *testing.T, ctx context.Context, c *testutil.Caddy, outbox, email string) {
	t.Helper()
	WaitJS(t, ctx, "the Sign in button", `!document.querySelector('button[data-tutor-sign-in]').hidden`)
	SignUpFrom(t, ctx, c, outbox, email, chromedp.JSPath(`document.querySelector('button[data-tutor-sign-in]')`))
}

// SignUpFrom is SignUp starting with a click on start.
func SignUpFrom(t *testing.T, ctx context.Context, c *testutil.Caddy, outbox, email string, start chromedp.JSPath) {
	t.Helper()
	Run(t, ctx, chromedp.Click(start))
	WaitJS(t, ctx, "the hosted sign-in page", `!!document.querySelector('form#sign-in')`)
	Run(t, ctx, chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll('a')].find(a => a.textContent.includes('Create an account'))`)))
	WaitJS(t, ctx, "the hosted sign-up page", `!!document.querySelector('form#sign-up')`)
	Run(t, ctx,
		chromedp.SendKeys(`form#sign-up input[name="name"]`, "Site Student"),
		chromedp.SendKeys(`form#sign-up input[name="email"]`, email),
		chromedp.SendKeys(`form#sign-up input[name="password"]`, "Correct-Horse-42!"),
		chromedp.Submit(`form#sign-up`),
	)
	WaitJS(t, ctx, "the check-your-inbox page", `document.body.innerText.includes('Check your inbox')`)
	Screenshot(t, ctx, "02-check-inbox")
	Run(t, ctx, chromedp.Navigate(VerificationLink(t, outbox)))
	WaitJS(t, ctx, "back on the site, signed in", `location.href === `+strconv.Quote(c.URL("/"))+
		` && document.documentElement.dataset.tutorSignedIn === 'true'`)
}

func answerText(t *testing.T, ctx context.Context) string {
	return Eval[string](t, ctx, `[...document.querySelector('intellistack-tutor').shadowRoot.querySelectorAll('.msg.assistant .body')].map(n => n.textContent).join('\n')`)
}

// The student's whole path through the dev site, one browser, in order:
// signed out, sign up with the mail link, locked stages, Ask AI on a
// selection with the answer streaming in, reload and find the thread,
// rename, stop mid-stream, an XSS answer rendered inert, keyboard only with
// feedback, the quota message, delete, and axe-core on the pages.
func TestStudentOnDevSite(t *testing.T) {
	testutil.SkipIfShort(t)
	ctx := NewBrowser(t, 4*time.Minute)
	fake := fakeopenai.New()
	defer fake.Close()
	outbox := t.TempDir()
	t.Setenv("DATABASE_URL", "")
	t.Setenv("INTELLISTACK_SECRET", "")
	// Sends: Ask AI, stopped, XSS, keyboard; the fifth is refused.
	c := testutil.StartCaddy(t, DevCaddyfile(t, outbox, fake.BaseURL(), 4))
	const ready = `!!document.querySelector('intellistack-tutor[ready]')`

	// Signed out: the widget asks to sign in.
	Run(t, ctx, chromedp.Navigate(c.URL("/")))
	WaitJS(t, ctx, "widget ready", ready)
	Run(t, ctx, chromedp.Click(Shadow(".launcher")))
	WaitJS(t, ctx, "the sign-in prompt", shadow(".banner")+`.textContent.includes('Sign in to ask')`)
	// A question typed before signing in survives the trip to the provider.
	Run(t, ctx, chromedp.SendKeys(Shadow("#input"), "My draft question"))
	Screenshot(t, ctx, "01-signed-out")
	SignUpFrom(t, ctx, c, outbox, "site-student@example.com", Shadow(".banner button"))
	WaitJS(t, ctx, "the draft back in the open panel", shadow(".panel")+`.hidden === false && `+shadow("#input")+`.value === 'My draft question'`)
	Run(t, ctx, chromedp.Click(Shadow(`button[aria-label="Close"]`)))
	// A new student has stage 1: later stages are marked locked.
	WaitJS(t, ctx, "stages 2-4 locked, 1 open", `!document.querySelector('[data-tutor-stage="1"]').hasAttribute('data-locked') &&
		['2','3','4'].every(s => document.querySelector('[data-tutor-stage="'+s+'"]').hasAttribute('data-locked'))`)
	Screenshot(t, ctx, "03-index-signed-in")

	// A lesson; select its first sentence; Ask AI.
	fake.Answer(fakeopenai.Reply{Chunks: []string{"A **variable** ", "names a value [1]. ", "What would `type(age)` ", "print?"}, Delay: 150 * time.Millisecond})
	Run(t, ctx, chromedp.Navigate(c.URL("/lessons/stage-1/01-variables-and-types")))
	WaitJS(t, ctx, "widget ready", ready)
	sentence := Eval[string](t, ctx, `(() => {
		const t = document.querySelector('main article p').firstChild;
		const r = document.createRange();
		r.setStart(t, 0); r.setEnd(t, t.textContent.indexOf('.') + 1);
		getSelection().removeAllRanges(); getSelection().addRange(r);
		return getSelection().toString();
	})()`)
	WaitJS(t, ctx, "the Ask AI button", `!`+shadow(".ask")+`.hidden`)
	Screenshot(t, ctx, "04-ask-ai-button")
	Run(t, ctx, chromedp.Click(Shadow(".ask")))
	// Streaming: part of the answer is on screen before the rest arrives.
	WaitJS(t, ctx, "the first words", shadow(".msg.assistant")+`?.textContent.includes('variable')`)
	if got := answerText(t, ctx); strings.Contains(got, "print?") {
		t.Fatalf("the whole answer arrived at once: %q", got)
	}
	Screenshot(t, ctx, "05-streaming")
	WaitJS(t, ctx, "the whole answer", shadow(".msg.assistant")+`?.getAttribute('aria-busy') === 'false'`)
	if got := answerText(t, ctx); !strings.Contains(got, "A variable names a value [1]. What would type(age) print?") {
		t.Fatalf("answer %q", got)
	}
	if n := Eval[int](t, ctx, `document.querySelector('intellistack-tutor').shadowRoot.querySelectorAll('.msg.assistant strong, .msg.assistant code').length`); n != 2 {
		t.Fatalf("Markdown not rendered: %d strong/code nodes", n)
	}
	if !Eval[bool](t, ctx, `[...document.querySelector('intellistack-tutor').shadowRoot.querySelectorAll('.sources a')].some(a => a.href.startsWith(location.origin + '/lessons/stage-1/'))`) {
		t.Fatal("no citation links to a stage-1 lesson")
	}
	if quote := Eval[string](t, ctx, shadow(".msg.user blockquote")+`?.textContent`); quote != sentence {
		t.Fatalf("quoted %q, selected %q", quote, sentence)
	}
	req, _ := fake.Last()
	var sys strings.Builder
	for _, m := range req.Messages {
		sys.WriteString(m.Content + "\n")
	}
	for _, want := range []string{sentence, "Variables and types"} {
		if !strings.Contains(sys.String(), want) {
			t.Errorf("the model's prompt lacks %q (page context)", want)
		}
	}
	Screenshot(t, ctx, "06-answer")

	// Reload: the thread is still there, in the panel and the list.
	Run(t, ctx, chromedp.Reload())
	WaitJS(t, ctx, "the thread restored", ready+` && `+shadow(".msg.assistant")+`?.textContent.includes('print?')`)
	Run(t, ctx, chromedp.Click(Shadow(".threads-toggle")))
	WaitJS(t, ctx, "one thread listed", `document.querySelector('intellistack-tutor').shadowRoot.querySelectorAll('.threads li[data-thread]').length === 1`)
	Screenshot(t, ctx, "07-reloaded-thread-list")

	// Rename.
	Run(t, ctx, chromedp.Click(Shadow(`.threads li button[aria-label^="Rename"]`)))
	WaitJS(t, ctx, "the rename field", `!!`+shadow(".rename"))
	Run(t, ctx, chromedp.SendKeys(Shadow(".rename"), "Variables question"+kb.Enter))
	WaitJS(t, ctx, "the new title", shadow(".thread-title")+`?.textContent === 'Variables question'`)
	Screenshot(t, ctx, "08-renamed")
	Run(t, ctx, chromedp.KeyEvent(kb.Escape))

	// Stop mid-stream: the partial answer stays, marked stopped.
	fake.Answer(fakeopenai.Reply{Chunks: []string{"Partial ", "answer ", "still ", "coming ", "END"}, Delay: 400 * time.Millisecond})
	Run(t, ctx,
		chromedp.Click(Shadow(`button[aria-label="New conversation"]`)),
		chromedp.SendKeys(Shadow("#input"), "Tell me everything about loops"+kb.Enter))
	WaitJS(t, ctx, "the first words", shadow(".msg.assistant")+`?.textContent.includes('Partial')`)
	Run(t, ctx, chromedp.Click(Shadow(".stop")))
	WaitJS(t, ctx, "stopped", `!!`+shadow(".msg.assistant .stopped")+` && `+shadow(".stop")+`.hidden`)
	time.Sleep(600 * time.Millisecond)
	if got := answerText(t, ctx); strings.Contains(got, "END") || !strings.Contains(got, "Partial") {
		t.Fatalf("after stop: %q", got)
	}
	Screenshot(t, ctx, "09-stopped")

	// Model output is untrusted: HTML and javascript: links stay inert.
	fake.Answer(fakeopenai.Reply{Chunks: []string{
		`Look: <img src=x onerror="window.pwned=1"> and <script>window.pwned=2</script> `,
		`[click me](javascript:window.pwned=3) [data](data:text/html,<b>x</b>) [safe](https://example.com/ok) `,
		`![pic](javascript:alert(1)) done.`,
	}})
	Run(t, ctx,
		chromedp.Click(Shadow(`button[aria-label="New conversation"]`)),
		chromedp.SendKeys(Shadow("#input"), "Show me some HTML"+kb.Enter))
	WaitJS(t, ctx, "the XSS answer", shadow(".msg.assistant")+`?.getAttribute('aria-busy') === 'false'`)
	inert := Eval[map[string]any](t, ctx, `(() => {
		const root = document.querySelector('intellistack-tutor').shadowRoot;
		const msg = root.querySelector('.msg.assistant');
		return {xss: window.pwned ?? null, img: msg.querySelectorAll('img, script').length,
			links: [...msg.querySelectorAll('a')].map(a => a.getAttribute('href')), text: msg.textContent};
	})()`)
	if inert["xss"] != nil || inert["img"] != float64(0) || fmt.Sprint(inert["links"]) != "[https://example.com/ok]" ||
		!strings.Contains(fmt.Sprint(inert["text"]), `<img src=x onerror="window.pwned=1">`) {
		t.Fatalf("model output was not inert: %v", inert)
	}
	Screenshot(t, ctx, "10-xss-inert")

	// Keyboard only: Tab to the launcher, open, ask, give feedback, close.
	Run(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](`Object.keys(sessionStorage).filter(k => k.endsWith(':open')).forEach(k => sessionStorage.removeItem(k))`)(ctx, tg)
		return err
	}),
		chromedp.Reload())
	WaitJS(t, ctx, "widget ready", ready)
	focused := func() string {
		return Eval[string](t, ctx, `(() => {
			const h = document.activeElement;
			if (!h || h.tagName !== 'INTELLISTACK-TUTOR') return 'page:' + (h ? h.tagName : '');
			const a = h.shadowRoot.activeElement;
			if (!a) return 'host';
			return a.tagName + ':' + (a.getAttribute('aria-label') || (a.labels && a.labels[0] && a.labels[0].textContent) || a.textContent.trim());
		})()`)
	}
	tabTo := func(want string, max int) {
		t.Helper()
		var seen []string
		for i := 0; i < max; i++ {
			Run(t, ctx, chromedp.KeyEvent(kb.Tab))
			f := focused()
			if f == want {
				return
			}
			seen = append(seen, f)
		}
		t.Fatalf("Tab never reached %q; focus went %q", want, seen)
	}
	fake.Answer(fakeopenai.Reply{Chunks: []string{"Keyboard ", "answer."}})
	tabTo("BUTTON:Ask Python tutor", 40)
	Run(t, ctx, chromedp.KeyEvent(kb.Enter))
	WaitJS(t, ctx, "focus in the message field", shadow(".panel")+`.hidden === false && document.querySelector('intellistack-tutor').shadowRoot.activeElement?.id === 'input'`)
	Run(t, ctx, chromedp.KeyEvent("What is a float?"), chromedp.KeyEvent(kb.Enter))
	WaitJS(t, ctx, "the keyboard answer", `[...document.querySelector('intellistack-tutor').shadowRoot.querySelectorAll('.msg.assistant')].some(m => m.textContent.includes('Keyboard answer.') && m.getAttribute('aria-busy') === 'false')`)
	// Back from the message field with Shift+Tab: every control reached has
	// a name, and the answer's "Helpful" button records feedback.
	found := false
	for i := 0; i < 12 && !found; i++ {
		Run(t, ctx, chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
		switch f := focused(); {
		case strings.HasSuffix(f, ":"):
			t.Fatalf("a focusable control without a name: %q", f)
		case f == "BUTTON:Helpful":
			Run(t, ctx, chromedp.KeyEvent(kb.Enter))
			WaitJS(t, ctx, "feedback recorded", `document.querySelector('intellistack-tutor').shadowRoot.activeElement.getAttribute('aria-pressed') === 'true'`)
			found = true
		}
	}
	if !found {
		t.Fatal("Shift+Tab never reached the answer's Helpful button")
	}
	Screenshot(t, ctx, "11-keyboard")
	Run(t, ctx, chromedp.KeyEvent(kb.Escape))
	WaitJS(t, ctx, "closed with focus back on the launcher", shadow(".panel")+`.hidden && document.querySelector('intellistack-tutor').shadowRoot.activeElement?.classList.contains('launcher')`)

	// The quota: the fifth message is refused with the time it resets.
	Run(t, ctx, chromedp.KeyEvent(kb.Enter))
	WaitJS(t, ctx, "panel open", shadow(".panel")+`.hidden === false`)
	Run(t, ctx, chromedp.SendKeys(Shadow("#input"), "One more question"+kb.Enter))
	WaitJS(t, ctx, "the quota message", shadow(".banner")+`.textContent.includes('You can ask again at')`)
	if v := Eval[string](t, ctx, shadow("#input")+`.value`); strings.TrimSpace(v) != "One more question" {
		t.Fatalf("the refused question was not kept in the field: %q", v)
	}
	Screenshot(t, ctx, "12-quota")

	// Delete the renamed thread.
	Run(t, ctx, chromedp.Click(Shadow(".threads-toggle")))
	WaitJS(t, ctx, "the renamed thread listed", `[...document.querySelector('intellistack-tutor').shadowRoot.querySelectorAll('.thread-title')].some(b => b.textContent === 'Variables question')`)
	before := Eval[int](t, ctx, `document.querySelector('intellistack-tutor').shadowRoot.querySelectorAll('.threads li[data-thread]').length`)
	del := Shadow(`button[aria-label="Delete Variables question"]`)
	Run(t, ctx, chromedp.Click(del))
	WaitJS(t, ctx, "the confirmation", shadow(`button.confirm`)+`?.textContent === 'Delete?'`)
	Run(t, ctx, chromedp.Click(Shadow(`button.confirm`)))
	WaitJS(t, ctx, "the thread gone", `document.querySelector('intellistack-tutor').shadowRoot.querySelectorAll('.threads li[data-thread]').length === `+strconv.Itoa(before-1))
	Run(t, ctx, chromedp.KeyEvent(kb.Escape), chromedp.Click(Shadow(".threads-toggle")))
	WaitJS(t, ctx, "the list reloaded without it", `document.querySelector('intellistack-tutor').shadowRoot.querySelectorAll('.threads li[data-thread]').length === `+strconv.Itoa(before-1)+
		` && ![...document.querySelector('intellistack-tutor').shadowRoot.querySelectorAll('.thread-title')].some(b => b.textContent === 'Variables question')`)
	Screenshot(t, ctx, "13-deleted")

	// Accessibility: axe-core on the lesson with the panel open, and the index.
	RunAxe(t, ctx, "lesson with the tutor open")
	Run(t, ctx, chromedp.Navigate(c.URL("/")))
	WaitJS(t, ctx, "widget ready", ready)
	RunAxe(t, ctx, "course index")
}

// RunAxe injects axe-core (test/site/node_modules, from `npm ci`) and fails
// on serious or critical violations; without axe-core it skips that check,
// or fails with CI set.
func RunAxe(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	src, err := os.ReadFile("node_modules/axe-core/axe.min.js")
	if err != nil {
		if testutil.InCI() {
			t.Fatalf("axe-core is not installed (npm ci in test/site): %v", err)
		}
		t.Logf("axe-core is not installed (run npm ci in test/site); accessibility check of %s skipped", page)
		return
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](string(src))); err != nil {
		t.Fatalf("injecting axe-core: %v", err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe: %v", err)
	}
	var violations []struct {
		ID, Impact, Help string
		Nodes            []string
	}
	if err := json.Unmarshal([]byte(res), &violations); err != nil {
		t.Fatalf("axe result: %v\n%s", err, res)
	}
	for _, v := range violations {
		t.Logf("axe (%s): %s %s: %s %v", page, v.Impact, v.ID, v.Help, v.Nodes)
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("axe (%s): %s violation %s: %s %v", page, v.Impact, v.ID, v.Help, v.Nodes)
		}
	}
}
