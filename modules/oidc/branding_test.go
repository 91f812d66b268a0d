package oidc

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/intellistack/intellistack/internal/testutil"
)

func TestNewBrand(t *testing.T) {
	t.Parallel()
	def, err := newBrand(nil)
	if err != nil || def.Color != defaultBrandColor || def.OnColor != "#ffffff" || def.Name != "" {
		t.Fatalf("default brand %+v, %v", def, err)
	}
	for _, tc := range []struct {
		in                BrandingConfig
		color, on, origin string
	}{
		{BrandingConfig{Name: " Python 101 ", Color: "#0B6BCB", Logo: "/assets/logo.svg"}, "#0b6bcb", "#ffffff", ""},
		{BrandingConfig{Color: "fc0"}, "#ffcc00", "#111111", ""},
		{BrandingConfig{Color: "#ffffff"}, "#ffffff", "#111111", ""},
		{BrandingConfig{Color: "#000"}, "#000000", "#ffffff", ""},
		{BrandingConfig{Logo: "https://cdn.example.com/l.png"}, defaultBrandColor, "#ffffff", "https://cdn.example.com"},
	} {
		b, err := newBrand(&tc.in)
		if err != nil || b.Color != tc.color || b.OnColor != tc.on || b.imgOrigin != tc.origin {
			t.Errorf("newBrand(%+v) = %+v, %v", tc.in, b, err)
		}
	}
	for _, bad := range []BrandingConfig{
		{Color: "blue"}, {Color: "#12345"}, {Color: "#0b6bcb;background:url(x)"},
		{Logo: "javascript:alert(1)"}, {Logo: "http://cdn.example.com/l.png"}, {Logo: "logo.svg"}, {Logo: "//evil.example/l.png"},
	} {
		if _, err := newBrand(&bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

func TestBrandingCaddyfile(t *testing.T) {
	t.Parallel()
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`oidc_provider {
		issuer https://learn.example.com
		branding {
			name "Python 101"
			logo /assets/logo.svg
			color "#0b6bcb"
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if h.Branding == nil || *h.Branding != (BrandingConfig{Name: "Python 101", Logo: "/assets/logo.svg", Color: "#0b6bcb"}) {
		t.Fatalf("branding %+v", h.Branding)
	}
	for bad, want := range map[string]string{
		"branding {\n color #0b6bcb\n}":                "quote it",
		"branding {\n color red\n}":                    "not #rgb",
		"branding {\n logo javascript:x\n}":            "https URL",
		"branding {\n colour \"#fff\"\n}":              "unrecognized branding option",
		"branding {\n name a b\n}":                     "wrong argument count",
		"branding {\n}\nbranding {\n name x\n}":        "already set",
		"branding x {\n}":                              "wrong argument count",
		"branding {\n name \"A\"\n color \"#zzz\"\n}":  "not #rgb",
		"branding {\n logo https://cdn.example.com\n}": "",
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("oidc_provider {\n issuer https://x.example\n " + bad + "\n}"))
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", bad, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: error %v, want one containing %q", bad, err, want)
		}
	}
}

const testLogo = `<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#0b6bcb"/><text x="16" y="22" font-size="16" text-anchor="middle" fill="#fff" font-family="sans-serif">Py</text></svg>`

func brandedCaddyfile(database string) string {
	return `{
	intellistack {
		database ` + database + `
		secret ` + testSecret + `
	}
}

https://localhost {
	oidc_provider {
		issuer https://localhost:__HTTPS_PORT__
		client spa {
			redirect_uri https://localhost:__HTTPS_PORT__/callback
			public
			skip_consent
		}
		branding {
			name "Python 101"
			logo /assets/logo.svg
			color "#0b6bcb"
		}
	}
	header /assets/logo.svg Content-Type image/svg+xml
	respond /assets/logo.svg ` + "`" + testLogo + "`" + ` 200
	respond /callback "callback reached" 200
}`
}

// The branded sign-in page over HTTPS carries the name in its title and
// header, the logo, the colour, and a CSP that still allows only this site's
// images.
func TestBrandedPagesThroughCaddy(t *testing.T) {
	c := testutil.StartCaddy(t, brandedCaddyfile(testutil.SQLitePath(t)))
	resp, err := c.Client.Get(c.URL("/oauth2/sign-in"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	page := string(body)
	for _, want := range []string{"<title>Sign in · Python 101</title>", `<img src="/assets/logo.svg"`, "<span>Python 101</span>",
		"--brand:#0b6bcb;--on-brand:#ffffff"} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-in page lacks %q:\n%s", want, page)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:;") {
		t.Errorf("CSP %q", csp)
	}
}

// Chromium renders the hosted pages light and dark, at desktop and phone
// width, and keeps a screenshot of each: the logo loads under the CSP, the
// primary button wears the brand colour, and nothing overflows a phone.
func TestBrandedPagesInChromium(t *testing.T) {
	shots := testutil.ArtifactDir(t, "")
	c := testutil.StartCaddy(t, brandedCaddyfile(testutil.SQLitePath(t)))
	ctx := testutil.NewChromium(t, 90*time.Second)

	scheme := func(s string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: s}},
			})
			return err
		})
	}
	for _, pg := range []struct{ name, path, form string }{
		{"sign-in", "/oauth2/sign-in", "form#sign-in"},
		{"sign-up", "/oauth2/sign-up", "form#sign-up"},
	} {
		for _, sc := range []string{"light", "dark"} {
			for _, vp := range []struct {
				name string
				w, h int64
				opts []chromedp.EmulateViewportOption
			}{
				{"desktop", 1280, 800, nil},
				{"phone", 390, 844, []chromedp.EmulateViewportOption{chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait}},
			} {
				name := fmt.Sprintf("%s-%s-%s", pg.name, sc, vp.name)
				if err := chromedp.Do(ctx, chromedp.EmulateViewport(vp.w, vp.h, vp.opts...), scheme(sc),
					chromedp.Navigate(c.URL(pg.path)), chromedp.WaitVisible(pg.form)); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				check, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => {
					const img = document.querySelector("header.brand img");
					const btn = document.querySelector("form button[type=submit]");
					return {
						logo: img ? img.complete && img.naturalWidth > 0 : false,
						button: getComputedStyle(btn).backgroundColor,
						bg: getComputedStyle(document.documentElement).backgroundColor,
						overflow: document.documentElement.scrollWidth > window.innerWidth,
					};
				})()`))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if check["logo"] != true || check["button"] != "rgb(11, 107, 203)" || check["overflow"] != false {
					t.Errorf("%s: %v", name, check)
				}
				if dark := check["bg"] == "rgb(13, 17, 23)"; dark != (sc == "dark") {
					t.Errorf("%s: page background %v", name, check["bg"])
				}
				png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG (below, JPEG)
				if err != nil {
					t.Fatalf("%s: screenshot: %v", name, err)
				}
				f := filepath.Join(shots, name+".png")
				if err := os.WriteFile(f, png, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("screenshot %s", f)
			}
		}
	}
}
