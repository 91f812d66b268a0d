package openai

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	openaisdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/intellistack/intellistack/modules/tutor/model"
)

// client is the Caddy-free part: a streaming chat-completions client for any
// OpenAI-compatible server.
type client struct {
	sdk         openaisdk.Client
	model       string
	temperature *float64
	maxTokens   int
	// firstToken bounds the wait for the first delta; the whole reply is
	// bounded by the request's context (the chat stream's own limit).
	firstToken time.Duration
}

type clientConfig struct {
	BaseURL     string
	APIKey      string
	Model       string
	Temperature *float64
	MaxTokens   int
	FirstToken  time.Duration
	HTTPClient  *http.Client
}

func newClient(cfg clientConfig) *client {
	opts := []option.RequestOption{
		option.WithAPIKey(cfg.APIKey),
		// The student is waiting: one quick retry on a transient failure,
		// not the SDK's default backoff ladder.
		option.WithMaxRetries(1),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return &client{
		sdk:         openaisdk.NewClient(opts...),
		model:       cfg.Model,
		temperature: cfg.Temperature,
		maxTokens:   cfg.MaxTokens,
		firstToken:  cfg.FirstToken,
	}
}

// Stream implements model.Model.
func (c *client) Stream(ctx context.Context, req model.Request, onDelta func(string) error) error {
	params := openaisdk.ChatCompletionNewParams{
		Model:    c.model,
		Messages: toSDKMessages(req.Messages),
	}
	if c.temperature != nil {
		params.Temperature = openaisdk.Float(*c.temperature)
	}
	if c.maxTokens > 0 {
		params.MaxCompletionTokens = openaisdk.Int(int64(c.maxTokens))
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	gotFirst := make(chan struct{})
	if c.firstToken > 0 {
		timer := time.AfterFunc(c.firstToken, func() {
			select {
			case <-gotFirst:
			default:
				cancel(fmt.Errorf("%w within %s", errNoFirstToken, c.firstToken))
			}
		})
		defer timer.Stop()
	}

	stream := c.sdk.Chat.Completions.NewStreaming(ctx, params)
	defer stream.Close()
	delivered, finished := false, false
	for stream.Next() {
		chunk := stream.Current()
		for _, choice := range chunk.Choices {
			if choice.FinishReason != "" {
				finished = true
			}
			if choice.Delta.Content == "" {
				continue
			}
			if !delivered {
				delivered = true
				close(gotFirst)
			}
			if err := onDelta(choice.Delta.Content); err != nil {
				return err
			}
		}
	}
	err := stream.Err()
	timedOut := false
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
		timedOut = errors.Is(cause, errNoFirstToken)
	}
	kind := model.KindStream
	if err == nil && !finished {
		// A connection cut without a finish reason is a broken reply, not a
		// short one: the SDK reports a plain EOF as a normal end.
		err = errors.New("stream ended without a finish reason")
	} else if err != nil && !delivered {
		kind = classify(err, timedOut)
	}
	if err == nil {
		return nil
	}
	return &model.Error{Kind: kind, Partial: delivered, Msg: describe(err)}
}

// errNoFirstToken marks the first-token timer's cancellation.
var errNoFirstToken = errors.New("no token")

// classify names a failure that came before any text: the server's HTTP
// error, a timeout, or no answer at all.
func classify(err error, timedOut bool) model.ErrorKind {
	var apiErr *openaisdk.Error
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr):
		return model.KindStatus
	case timedOut, errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return model.KindTimeout
	}
	return model.KindUnreachable
}

// describe gives an error text without the request body or API key, which
// the SDK's errors can include.
func describe(err error) string {
	var apiErr *openaisdk.Error
	if errors.As(err, &apiErr) {
		msg := apiErr.Message
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return fmt.Sprintf("HTTP %d from the model server: %s", apiErr.StatusCode, msg)
	}
	return err.Error()
}

func toSDKMessages(msgs []model.Message) []openaisdk.ChatCompletionMessageParamUnion {
	out := make([]openaisdk.ChatCompletionMessageParamUnion, 0, len(msgs))
	for _, m := range msgs {
		switch m.Role {
		case model.System:
			out = append(out, openaisdk.SystemMessage(m.Content))
		case model.Assistant:
			out = append(out, openaisdk.AssistantMessage(m.Content))
		default:
			out = append(out, openaisdk.UserMessage(m.Content))
		}
	}
	return out
}

var _ model.Model = (*client)(nil)
