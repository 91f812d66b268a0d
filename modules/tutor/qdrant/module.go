// Package qdrant is the production retriever `intellistack.retrievers.qdrant`:
// passages embedded through an OpenAI-compatible embeddings endpoint and
// searched in Qdrant over gRPC, with the student's stage restriction as a
// filter inside the query. The `index` subcommand loads a lesson folder.
package qdrant

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	qd "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

func init() {
	caddy.RegisterModule(Retriever{})
}

// Retriever searches a Qdrant collection filled by `intellistack index`:
//
//	retriever qdrant {
//		address    <host:port>          # gRPC, default localhost:6334
//		api_key    <key>                # {env.QDRANT_API_KEY}
//		tls
//		collection <name>               # required
//		timeout    <duration>           # per search, default 5s
//		embeddings {
//			base_url <url>              # default OpenAI's
//			api_key  <key>              # {env.OPENAI_API_KEY}
//			model    <name>             # default text-embedding-3-small
//		}
//	}
type Retriever struct {
	// Address is Qdrant's gRPC address. Default: localhost:6334.
	Address string `json:"address,omitempty"`
	// APIKey authenticates to Qdrant; use a placeholder.
	APIKey string `json:"api_key,omitempty"`
	// TLS connects with TLS.
	TLS bool `json:"tls,omitempty"`
	// Collection holds the passages. Required.
	Collection string `json:"collection,omitempty"`
	// Timeout bounds one search (embedding + query); past it the tutor answers
	// without retrieval. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Embeddings is the endpoint that turns a question into a vector; it must
	// be the one the collection was indexed with.
	Embeddings Embeddings `json:"embeddings,omitempty"`

	client *qd.Client
	emb    *embedder
}

// Embeddings configures the OpenAI-compatible embeddings endpoint.
type Embeddings struct {
	// BaseURL of the API. Default: OpenAI's.
	BaseURL string `json:"base_url,omitempty"`
	// APIKey for it; use a placeholder.
	APIKey string `json:"api_key,omitempty"`
	// Model name. Default: text-embedding-3-small.
	Model string `json:"model,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Retriever) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "intellistack.retrievers.qdrant",
		New: func() caddy.Module { return new(Retriever) },
	}
}

// Provision builds the clients. gRPC connects lazily, so nothing is dialled
// here and `caddy validate` works without Qdrant.
func (r *Retriever) Provision(caddy.Context) error {
	if r.Collection == "" {
		return errors.New("retriever qdrant: collection is required")
	}
	if r.Timeout == 0 {
		r.Timeout = caddy.Duration(5 * time.Second)
	}
	repl := caddy.NewReplacer()
	client, err := newQdrantClient(repl.ReplaceKnown(r.Address, ""), repl.ReplaceKnown(r.APIKey, ""), r.TLS)
	if err != nil {
		return fmt.Errorf("retriever qdrant: %v", err)
	}
	r.client = client
	model := r.Embeddings.Model
	if model == "" {
		model = "text-embedding-3-small"
	}
	r.emb = newEmbedder(repl.ReplaceKnown(r.Embeddings.BaseURL, ""), repl.ReplaceKnown(r.Embeddings.APIKey, ""), model)
	return nil
}

// Cleanup closes the gRPC connections.
func (r *Retriever) Cleanup() error {
	if r.client != nil {
		return r.client.Close()
	}
	return nil
}

// Retrieve implements retrieval.Retriever.
func (r *Retriever) Retrieve(ctx context.Context, q retrieval.Query) ([]retrieval.Passage, error) {
	if q.MaxStage < 1 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(r.Timeout))
	defer cancel()
	vectors, err := r.emb.embed(ctx, []string{q.Text})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", retrieval.ErrUnavailable, err)
	}
	return search(ctx, r.client, r.Collection, vectors[0], q)
}

// reconnectMaxDelay bounds the wait between attempts to reach Qdrant again
// after it went away: how long a Qdrant that is back may still go unused.
const reconnectMaxDelay = 2 * time.Second

func newQdrantClient(address, apiKey string, useTLS bool) (*qd.Client, error) {
	if address == "" {
		address = "localhost:6334"
	}
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("address %q: %v", address, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("address %q: bad port", address)
	}
	return qd.NewClient(&qd.Config{
		Host: host, Port: port, APIKey: apiKey, UseTLS: useTLS,
		// The version check dials at construction; we connect lazily.
		SkipCompatibilityCheck: true,
		PoolSize:               1,
		// After an outage gRPC reconnects on a back-off that grows to 120 s
		// by default, and meanwhile every search fails at once: a Qdrant
		// back after a minute would go unused for another minute or two.
		// Trying every few seconds at most costs nothing next to a turn.
		GrpcOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: 500 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: reconnectMaxDelay},
			// gRPC's default; set because a zero value would mean no time.
			MinConnectTimeout: 20 * time.Second,
		})},
	})
}

// UnmarshalCaddyfile parses the block shown on Retriever.
func (r *Retriever) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "qdrant"
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "tls":
			if d.NextArg() {
				return d.ArgErr()
			}
			r.TLS = true
		case "address", "api_key", "collection", "timeout":
			key := d.Val()
			var val string
			if !d.Args(&val) || d.NextArg() {
				return d.ArgErr()
			}
			switch key {
			case "address":
				r.Address = val
			case "api_key":
				r.APIKey = val
			case "collection":
				r.Collection = val
			case "timeout":
				dur, err := caddy.ParseDuration(val)
				if err != nil {
					return d.Errf("timeout: %v", err)
				}
				r.Timeout = caddy.Duration(dur)
			}
		case "embeddings":
			if d.NextArg() {
				return d.ArgErr()
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				key := d.Val()
				var val string
				if !d.Args(&val) || d.NextArg() {
					return d.ArgErr()
				}
				switch key {
				case "base_url":
					r.Embeddings.BaseURL = val
				case "api_key":
					r.Embeddings.APIKey = val
				case "model":
					r.Embeddings.Model = val
				default:
					return d.Errf("unrecognized embeddings option: %s", key)
				}
			}
		default:
			return d.Errf("unrecognized retriever qdrant option: %s", d.Val())
		}
	}
	return nil
}

var (
	_ retrieval.Retriever   = (*Retriever)(nil)
	_ caddy.Provisioner     = (*Retriever)(nil)
	_ caddy.CleanerUpper    = (*Retriever)(nil)
	_ caddyfile.Unmarshaler = (*Retriever)(nil)
)
