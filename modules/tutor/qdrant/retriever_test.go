package qdrant

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/intellistack/intellistack/internal/fakeopenai"
	"github.com/intellistack/intellistack/internal/fakeqdrant"
	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

func TestMain(m *testing.M) { testutil.Main(m) }

type fixture struct {
	qdrant *fakeqdrant.Server
	openai *fakeopenai.Server
	r      *Retriever
}

// newFixture indexes the sample course into a fake Qdrant through the fake
// embeddings endpoint and provisions a retriever against both.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	fq, err := fakeqdrant.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fq.Stop)
	fo := fakeopenai.New()
	t.Cleanup(fo.Close)

	passages, err := retrieval.LoadPassages(os.DirFS("../../../examples"), "course")
	if err != nil {
		t.Fatal(err)
	}
	client, err := newQdrantClient(fq.Addr, "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	n, err := indexPassages(context.Background(), client, newEmbedder(fo.BaseURL(), "k", "emb"), "lessons", passages, 7)
	if err != nil || n != len(passages) {
		t.Fatalf("indexed %d of %d: %v", n, len(passages), err)
	}

	r := &Retriever{Address: fq.Addr, Collection: "lessons", Embeddings: Embeddings{BaseURL: fo.BaseURL(), APIKey: "k", Model: "emb"}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := r.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Cleanup() })
	return &fixture{qdrant: fq, openai: fo, r: r}
}

func questions(t *testing.T) []string {
	f, err := os.Open("../lexical/testdata/questions.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if q, _, ok := strings.Cut(sc.Text(), "\t"); ok && !strings.HasPrefix(q, "#") {
			out = append(out, q)
		}
	}
	return out
}

// A stage-2 student never gets a stage-3 or stage-4 passage, and the
// restriction travels inside the Qdrant query as a filter.
func TestStageFilterInsideQdrantQuery(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	ctx := context.Background()
	for _, q := range questions(t) {
		got, err := fx.r.Retrieve(ctx, retrieval.Query{Text: q, MaxStage: 2, Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			t.Fatalf("no passage at all for %q", q)
		}
		for _, p := range got {
			if p.Stage > 2 {
				t.Fatalf("stage-2 student got %s (stage %d) for %q", p.ID, p.Stage, q)
			}
		}
	}
	last := fx.qdrant.Queries()
	f := last[len(last)-1].GetFilter()
	if f == nil || len(f.GetMust()) == 0 || f.GetMust()[0].GetField().GetKey() != "stage" ||
		f.GetMust()[0].GetField().GetRange().GetLte() != 2 {
		t.Fatalf("query did not carry the stage filter: %v", f)
	}
	staff, _ := fx.r.Retrieve(ctx, retrieval.Query{Text: "letter grade thresholds gradebook", MaxStage: retrieval.AllStages})
	if len(staff) == 0 || staff[0].Stage != 4 {
		t.Fatalf("staff query for the project: %+v", staff)
	}
	if got, _ := fx.r.Retrieve(ctx, retrieval.Query{Text: "loops", MaxStage: 0}); len(got) != 0 {
		t.Fatalf("MaxStage 0 returned %d passages", len(got))
	}
	if idx := strings.Join(fx.qdrant.FieldIndexes("lessons"), ","); !strings.Contains(idx, "stage") || !strings.Contains(idx, "course") {
		t.Fatalf("payload indexes: %s", idx)
	}
}

// Outages of Qdrant or of the embeddings endpoint are ErrUnavailable, so the
// tutor answers without retrieval instead of failing.
func TestOutagesAreUnavailable(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	ctx := context.Background()
	fx.qdrant.SetDown(true)
	if _, err := fx.r.Retrieve(ctx, retrieval.Query{Text: "loops", MaxStage: 2}); !errors.Is(err, retrieval.ErrUnavailable) {
		t.Fatalf("qdrant down: %v", err)
	}
	fx.qdrant.SetDown(false)
	fx.openai.FailEmbeddings(503)
	if _, err := fx.r.Retrieve(ctx, retrieval.Query{Text: "loops", MaxStage: 2}); !errors.Is(err, retrieval.ErrUnavailable) {
		t.Fatalf("embeddings down: %v", err)
	}
	fx.openai.FailEmbeddings(0)
	if _, err := fx.r.Retrieve(ctx, retrieval.Query{Text: "loops", MaxStage: 2}); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

// `intellistack index` loads the folder; running it twice overwrites.
func TestIndexCommand(t *testing.T) {
	t.Parallel()
	fq, err := fakeqdrant.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer fq.Stop()
	fo := fakeopenai.New()
	defer fo.Close()
	args := []string{"index", "--lessons", "../../../examples/course", "--collection", "course", "--qdrant", fq.Addr,
		"--embeddings-url", fo.BaseURL(), "--embeddings-model", "emb"}
	for i := 0; i < 2; i++ {
		out, code := testutil.RunCommand(t, []string{"OPENAI_API_KEY=k"}, args...)
		if code != 0 || !strings.Contains(out, "indexed") {
			t.Fatalf("index: exit %d\n%s", code, out)
		}
	}
	passages, _ := retrieval.LoadPassages(os.DirFS("../../../examples"), "course")
	if got := fq.Points("course"); got != len(passages) {
		t.Fatalf("collection has %d points after two runs, want %d", got, len(passages))
	}
	out, code := testutil.RunCommand(t, nil, "index", "--collection", "x")
	if code == 0 || !strings.Contains(out, "--lessons") {
		t.Fatalf("missing --lessons: exit %d\n%s", code, out)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	t.Parallel()
	var r Retriever
	err := r.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`qdrant {
		address qdrant:6334
		api_key {env.QDRANT_API_KEY}
		tls
		collection lessons
		timeout 3s
		embeddings {
			base_url http://emb:8080/v1
			api_key {env.OPENAI_API_KEY}
			model nomic-embed-text
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Address != "qdrant:6334" || !r.TLS || r.Collection != "lessons" || r.Embeddings.Model != "nomic-embed-text" ||
		r.Embeddings.BaseURL != "http://emb:8080/v1" || r.Timeout != caddy.Duration(3e9) {
		t.Fatalf("parsed %+v", r)
	}
	for _, bad := range []string{`qdrant extra`, `qdrant {
		collection
	}`, `qdrant {
		colection x
	}`, `qdrant {
		embeddings {
			modle x
		}
	}`} {
		var r Retriever
		if err := r.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
