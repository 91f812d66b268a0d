package qdrant

import (
	"context"
	"fmt"

	openaisdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// embedder turns text into vectors through an OpenAI-compatible embeddings
// endpoint (OpenAI, Azure, Ollama, vLLM, text-embeddings-inference).
type embedder struct {
	sdk   openaisdk.Client
	model string
}

func newEmbedder(baseURL, apiKey, model string) *embedder {
	opts := []option.RequestOption{option.WithAPIKey(apiKey), option.WithMaxRetries(1)}
	if baseURL != "" {
		opts = append(opts, option.WithBaseURL(baseURL))
	}
	return &embedder{sdk: openaisdk.NewClient(opts...), model: model}
}

// embed returns one vector per input, in order.
func (e *embedder) embed(ctx context.Context, texts []string) ([][]float32, error) {
	resp, err := e.sdk.Embeddings.New(ctx, openaisdk.EmbeddingNewParams{
		Model: e.model,
		Input: openaisdk.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts},
	})
	if err != nil {
		return nil, fmt.Errorf("embeddings: %v", err)
	}
	if len(resp.Data) != len(texts) {
		return nil, fmt.Errorf("embeddings: asked for %d vectors, got %d", len(texts), len(resp.Data))
	}
	out := make([][]float32, len(texts))
	for _, d := range resp.Data {
		if d.Index < 0 || int(d.Index) >= len(texts) {
			return nil, fmt.Errorf("embeddings: index %d out of range", d.Index)
		}
		v := make([]float32, len(d.Embedding))
		for i, x := range d.Embedding {
			v[i] = float32(x)
		}
		out[d.Index] = v
	}
	return out, nil
}
