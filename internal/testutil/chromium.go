package testutil

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath finds Debian's Chromium; without it the test skips with a
// message, or fails when CI is set (.ci/run installs it).
func ChromiumPath(t testing.TB) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if InCI() {
		t.Fatal("Chromium is not installed (CI is set, so this fails instead of skipping)")
	}
	t.Skip("Chromium is not installed; apt-get install chromium to run the browser test")
	return ""
}

// NewChromium starts a headless Chromium with a throwaway profile that
// accepts the certificates of Caddy's internal CAs, and returns its context,
// which ends after timeout or with the test. opts add allocator options
// (a window size, say).
func NewChromium(t testing.TB, timeout time.Duration, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := ChromiumPath(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("ignore-certificate-errors", true),
	), opts...)...)
	ctx, cancel := chromedp.NewContext(alloc)
	// The browser starts on the first action; it must not run under the
	// timeout's context alone (chromedp.Run), so start it here.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting Chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// ArtifactDir is where a test keeps what a person may want to look at
// afterwards (screenshots): $TEST_ARTIFACTS/<test name> when that is set (CI
// keeps it), else fallback when not empty, else a temporary folder.
func ArtifactDir(t testing.TB, fallback string) string {
	t.Helper()
	dir := fallback
	if root := os.Getenv("TEST_ARTIFACTS"); root != "" {
		dir = filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
	}
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
