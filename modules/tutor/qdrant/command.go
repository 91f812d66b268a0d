package qdrant

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "index",
		Usage: "--lessons <folder> --collection <name> [--qdrant <host:port>] [--tls] [--embeddings-url <url>] [--embeddings-model <name>]",
		Short: "Loads a folder of Markdown lessons into Qdrant for the tutor",
		Long: `
Reads every Markdown lesson under --lessons (front matter: course, stage,
title), cuts it into passages by heading, embeds them through the
OpenAI-compatible embeddings endpoint, and upserts them into the Qdrant
collection (created when missing, with payload indexes on stage and course).
Re-running it overwrites each passage's point, so it is safe after edits.

Keys come from the environment: QDRANT_API_KEY and OPENAI_API_KEY (or
EMBEDDINGS_API_KEY). Use the same embeddings model as the retriever qdrant
block of the Caddyfile.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("lessons", "", "Folder of Markdown lessons (required)")
			cmd.Flags().String("collection", "", "Qdrant collection (required)")
			cmd.Flags().String("qdrant", "localhost:6334", "Qdrant gRPC address")
			cmd.Flags().Bool("tls", false, "Connect to Qdrant with TLS")
			cmd.Flags().String("embeddings-url", "", "Embeddings API base URL (default OpenAI's)")
			cmd.Flags().String("embeddings-model", "text-embedding-3-small", "Embeddings model")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdIndex)
		},
	})
}

func cmdIndex(fl caddycmd.Flags) (int, error) {
	lessons, collection := fl.String("lessons"), fl.String("collection")
	if lessons == "" || collection == "" {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("--lessons and --collection are required")
	}
	abs, err := filepath.Abs(lessons)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	passages, err := retrieval.LoadPassages(os.DirFS(abs), ".")
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if len(passages) == 0 {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("no lessons with front matter in %s", abs)
	}
	client, err := newQdrantClient(fl.String("qdrant"), os.Getenv("QDRANT_API_KEY"), fl.Bool("tls"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	defer client.Close()
	key := os.Getenv("EMBEDDINGS_API_KEY")
	if key == "" {
		key = os.Getenv("OPENAI_API_KEY")
	}
	emb := newEmbedder(fl.String("embeddings-url"), key, fl.String("embeddings-model"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	begin := time.Now()
	n, err := indexPassages(ctx, client, emb, collection, passages, 64)
	if err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("indexed %d of %d passages: %v", n, len(passages), err)
	}
	fmt.Printf("indexed %d passages from %s into %s in %s\n", n, abs, collection, time.Since(begin).Round(time.Millisecond))
	return caddy.ExitCodeSuccess, nil
}
