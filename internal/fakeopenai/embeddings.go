package fakeopenai

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"strings"
	"unicode"
)

// EmbeddingDims is the size of the fake's vectors.
const EmbeddingDims = 256

// FailEmbeddings makes /v1/embeddings answer with status (0 restores it).
func (s *Server) FailEmbeddings(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.embeddingsStatus = status
}

// serveEmbeddings answers /v1/embeddings with deterministic hashed
// bag-of-words vectors: texts sharing words get similar vectors, so nearest
// neighbour search behaves sensibly in tests.
func (s *Server) serveEmbeddings(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	failWith := s.embeddingsStatus
	s.embeddingCalls++
	s.mu.Unlock()
	if failWith != 0 {
		writeError(w, failWith, "scripted embeddings failure")
		return
	}
	var req struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return
	}
	var inputs []string
	if err := json.Unmarshal(req.Input, &inputs); err != nil {
		var one string
		if err := json.Unmarshal(req.Input, &one); err != nil {
			writeError(w, http.StatusBadRequest, "input must be a string or an array of strings")
			return
		}
		inputs = []string{one}
	}
	data := make([]map[string]any, len(inputs))
	for i, text := range inputs {
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": Vector(text)}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": map[string]any{"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
	})
}

// Vector is the fake's embedding of text.
func Vector(text string) []float64 {
	v := make([]float64, EmbeddingDims)
	for _, word := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len(word) < 3 {
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(strings.TrimSuffix(word, "s")))
		v[h.Sum32()%EmbeddingDims]++
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	if norm > 0 {
		norm = math.Sqrt(norm)
		for i := range v {
			v[i] /= norm
		}
	}
	return v
}
