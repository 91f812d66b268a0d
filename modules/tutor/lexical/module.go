package lexical

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

func init() {
	caddy.RegisterModule(Retriever{})
}

// Retriever is the embedded retriever `intellistack.retrievers.lexical`: a
// BM25 index of a folder of Markdown lessons, built in memory when the config
// loads (so a reload reindexes changed lessons; use `caddy reload --force`
// when only the lessons changed).
//
//	retriever lexical {
//		path <folder>
//	}
type Retriever struct {
	// Path is the folder of lessons: Markdown files whose front matter gives
	// course, stage and title. Relative paths are from Caddy's working
	// directory.
	Path string `json:"path,omitempty"`

	index *Index
}

// CaddyModule returns the Caddy module information.
func (Retriever) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "intellistack.retrievers.lexical",
		New: func() caddy.Module { return new(Retriever) },
	}
}

// Provision reads and indexes the lessons.
func (r *Retriever) Provision(ctx caddy.Context) error {
	if r.Path == "" {
		return errors.New("retriever lexical: path to the lessons folder is required")
	}
	path := caddy.NewReplacer().ReplaceKnown(r.Path, "")
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return fmt.Errorf("retriever lexical: lessons folder %s is not readable", abs)
	}
	passages, err := retrieval.LoadPassages(os.DirFS(abs), ".")
	if err != nil {
		return fmt.Errorf("retriever lexical: %v", err)
	}
	if len(passages) == 0 {
		return fmt.Errorf("retriever lexical: no lessons with front matter in %s", abs)
	}
	r.index = NewIndex(passages)
	ctx.Logger().Info("indexed lessons", zap.String("path", abs), zap.Int("passages", len(passages)))
	return nil
}

// Retrieve implements retrieval.Retriever.
func (r *Retriever) Retrieve(ctx context.Context, q retrieval.Query) ([]retrieval.Passage, error) {
	return r.index.Retrieve(ctx, q)
}

// Locate implements retrieval.Locator.
func (r *Retriever) Locate(ctx context.Context, q retrieval.Query) ([]retrieval.Lesson, error) {
	return r.index.Locate(ctx, q)
}

// DefaultMinScore implements retrieval.Floor. At 0.3 a question must share
// about a third of its weight with a passage: "How do for loops work?" keeps
// no stage-1 passage (best 0.25) while the stage-2 loops lesson scores 0.79,
// and "How do I convert a string to an int?" keeps its two stage-1 sections
// (0.56, 0.51), measured on examples/course.
func (r *Retriever) DefaultMinScore() float64 { return 0.3 }

// UnmarshalCaddyfile parses the block shown on Retriever.
func (r *Retriever) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "lexical"
	if d.NextArg() {
		r.Path = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "path":
			if !d.Args(&r.Path) || d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized retriever lexical option: %s", d.Val())
		}
	}
	return nil
}

var (
	_ retrieval.Retriever   = (*Retriever)(nil)
	_ retrieval.Locator     = (*Retriever)(nil)
	_ retrieval.Floor       = (*Retriever)(nil)
	_ caddy.Provisioner     = (*Retriever)(nil)
	_ caddyfile.Unmarshaler = (*Retriever)(nil)
)
