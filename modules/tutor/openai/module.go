// Package openai is the tutor's model guest `intellistack.models.openai`: a
// streaming chat-completions client for OpenAI and any OpenAI-compatible
// server (Azure OpenAI, vLLM, Ollama, LiteLLM), built on openai-go.
package openai

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/intellistack/intellistack/modules/tutor/model"
)

func init() {
	caddy.RegisterModule(Model{})
}

// Model configures the model the tutor talks to:
//
//	model openai {
//		base_url    <url>          # default https://api.openai.com/v1
//		api_key     <key>          # use {env.OPENAI_API_KEY}
//		model       <name>         # required, e.g. gpt-4.1-mini
//		temperature <0..2>
//		max_tokens  <n>
//		first_token_timeout <duration>
//	}
type Model struct {
	// BaseURL is the API root of an OpenAI-compatible server, e.g.
	// http://localhost:11434/v1 for Ollama. Default: OpenAI's.
	BaseURL string `json:"base_url,omitempty"`

	// APIKey is sent as a bearer token. Write it as {env.OPENAI_API_KEY}: it
	// is expanded at provision time and never stored in the config.
	APIKey string `json:"api_key,omitempty"`

	// Model is the model name, e.g. gpt-4.1-mini. Required.
	Model string `json:"model,omitempty"`

	// Temperature, 0 to 2. Default: the server's.
	Temperature *float64 `json:"temperature,omitempty"`

	// MaxTokens caps the length of a reply. Default: the server's.
	MaxTokens int `json:"max_tokens,omitempty"`

	// FirstTokenTimeout is how long to wait for the first token before
	// answering in the retrieval-only mode instead. Default: 20s.
	FirstTokenTimeout caddy.Duration `json:"first_token_timeout,omitempty"`

	client *client
}

// CaddyModule returns the Caddy module information.
func (Model) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "intellistack.models.openai",
		New: func() caddy.Module { return new(Model) },
	}
}

// Provision expands placeholders and builds the client; it does no I/O.
func (m *Model) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	if m.FirstTokenTimeout == 0 {
		m.FirstTokenTimeout = caddy.Duration(20 * time.Second)
	}
	m.client = newClient(clientConfig{
		BaseURL:     repl.ReplaceKnown(m.BaseURL, ""),
		APIKey:      repl.ReplaceKnown(m.APIKey, ""),
		Model:       repl.ReplaceKnown(m.Model, ""),
		Temperature: m.Temperature,
		MaxTokens:   m.MaxTokens,
		FirstToken:  time.Duration(m.FirstTokenTimeout),
	})
	return nil
}

// Validate checks the settings.
func (m *Model) Validate() error {
	if m.client.model == "" {
		return errors.New("model openai: a model name is required (model gpt-4.1-mini)")
	}
	if m.Temperature != nil && (*m.Temperature < 0 || *m.Temperature > 2) {
		return errors.New("model openai: temperature must be between 0 and 2")
	}
	if m.MaxTokens < 0 {
		return errors.New("model openai: max_tokens must be positive")
	}
	return nil
}

// Stream implements model.Model.
func (m *Model) Stream(ctx context.Context, req model.Request, onDelta func(string) error) error {
	return m.client.Stream(ctx, req, onDelta)
}

// UnmarshalCaddyfile parses the block shown on Model.
func (m *Model) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "openai"
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		key := d.Val()
		var val string
		if !d.Args(&val) || d.NextArg() {
			return d.ArgErr()
		}
		switch key {
		case "base_url":
			m.BaseURL = val
		case "api_key":
			m.APIKey = val
		case "model":
			m.Model = val
		case "temperature":
			t, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return d.Errf("temperature: %v", err)
			}
			m.Temperature = &t
		case "max_tokens":
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				return d.Errf("max_tokens: %q is not a positive number", val)
			}
			m.MaxTokens = n
		case "first_token_timeout":
			dur, err := caddy.ParseDuration(val)
			if err != nil {
				return d.Errf("first_token_timeout: %v", err)
			}
			m.FirstTokenTimeout = caddy.Duration(dur)
		default:
			return d.Errf("unrecognized model openai option: %s", key)
		}
	}
	return nil
}

var (
	_ model.Model           = (*Model)(nil)
	_ caddy.Provisioner     = (*Model)(nil)
	_ caddy.Validator       = (*Model)(nil)
	_ caddyfile.Unmarshaler = (*Model)(nil)
)
