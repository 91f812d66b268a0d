package tutor

import (
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// The backend label is the retriever module's name, from a fixed set.
func TestBackendName(t *testing.T) {
	for id, want := range map[string]string{
		"intellistack.retrievers.lexical": "lexical",
		"intellistack.retrievers.qdrant":  "qdrant",
	} {
		info, err := caddy.GetModule(id)
		if err != nil {
			t.Fatal(err)
		}
		if got := backendName(info.New()); got != want {
			t.Errorf("%s: backend %q, want %q", id, got, want)
		}
	}
	if got := backendName(struct{}{}); got != "other" {
		t.Errorf("a retriever that is no module: %q", got)
	}
}
