package testutil

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// goldenSeparator splits a golden file into its Caddyfile and expected JSON.
const goldenSeparator = "\n----------\n"

// AssertAdaptGolden adapts every dir/*.txt golden file (a Caddyfile, a line of
// ten dashes, the expected JSON) and compares the result, so the Caddyfile
// syntax a module documents is pinned. Run with UPDATE_GOLDEN=1 to rewrite the
// expected halves after an intended change.
func AssertAdaptGolden(t *testing.T, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in %s (%v)", dir, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, want, ok := strings.Cut(string(raw), goldenSeparator)
			if !ok {
				t.Fatalf("%s: no %q separator", file, strings.TrimSpace(goldenSeparator))
			}
			got, err := AdaptCaddyfile(caddyfile)
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			if os.Getenv("UPDATE_GOLDEN") != "" {
				if err := os.WriteFile(file, []byte(caddyfile+goldenSeparator+got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if normalizeJSON(t, got) != normalizeJSON(t, want) {
				t.Fatalf("adapted JSON differs.\n got: %s\nwant: %s", got, strings.TrimSpace(want))
			}
		})
	}
}

// AdaptCaddyfile adapts a Caddyfile, as written (no harness globals), to
// indented JSON.
func AdaptCaddyfile(caddyfile string) (string, error) {
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, cfg, "", "\t"); err != nil {
		return "", err
	}
	return out.String(), nil
}

func normalizeJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("golden JSON: %v", err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
