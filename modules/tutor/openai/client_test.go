package openai

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/fakeopenai"
	"github.com/intellistack/intellistack/modules/tutor/model"
)

func collect(t *testing.T, c *client, ctx context.Context) (string, error) {
	t.Helper()
	var b strings.Builder
	err := c.Stream(ctx, model.Request{Messages: []model.Message{
		{Role: model.System, Content: "be Socratic"},
		{Role: model.User, Content: "hi"},
	}}, func(d string) error { b.WriteString(d); return nil })
	return b.String(), err
}

func TestStreamAgainstOpenAIWireFormat(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New()
	defer fake.Close()
	temp := 0.3
	c := newClient(clientConfig{BaseURL: fake.BaseURL(), APIKey: "sk-test", Model: "tutor-model", Temperature: &temp})

	got, err := collect(t, c, context.Background())
	if err != nil || got != "What do you think?" {
		t.Fatalf("reply %q, err %v", got, err)
	}
	req, _ := fake.Last()
	if req.Model != "tutor-model" || !req.Stream || req.Auth != "Bearer sk-test" || req.Temperature == nil || *req.Temperature != 0.3 {
		t.Fatalf("request %+v", req)
	}
	if len(req.Messages) != 2 || req.Messages[0].Role != "system" || req.Messages[1].Content != "hi" {
		t.Fatalf("messages %+v", req.Messages)
	}
}

func TestStreamFailures(t *testing.T) {
	t.Parallel()
	fake := fakeopenai.New()
	defer fake.Close()
	// The first-token timer leaves room for the SDK's one retry of a 500
	// (backoff at most 0.5 s), so that failure is the server's status.
	c := newClient(clientConfig{BaseURL: fake.BaseURL(), APIKey: "sk-secret-key", Model: "m", FirstToken: time.Second})

	for _, tc := range []struct {
		name        string
		reply       fakeopenai.Reply
		unavailable bool
		partial     string
		kind        model.ErrorKind
	}{
		{"refused", fakeopenai.Reply{Status: 401}, true, "", model.KindStatus},
		{"server error", fakeopenai.Reply{Status: 500}, true, "", model.KindStatus},
		{"slow first token", fakeopenai.Reply{Chunks: []string{"late"}, Delay: 3 * time.Second}, true, "", model.KindTimeout},
		{"error mid-stream", fakeopenai.Reply{Chunks: []string{"a", "b", "c"}, BreakAfter: 2}, false, "ab", model.KindStream},
		{"connection cut", fakeopenai.Reply{Chunks: []string{"a", "b", "c"}, CutAfter: 1}, false, "a", model.KindStream},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.Answer(tc.reply)
			got, err := collect(t, c, context.Background())
			if err == nil {
				t.Fatalf("no error, reply %q", got)
			}
			if errors.Is(err, model.ErrUnavailable) != tc.unavailable {
				t.Fatalf("ErrUnavailable = %v, want %v (%v)", !tc.unavailable, tc.unavailable, err)
			}
			if got != tc.partial {
				t.Fatalf("delivered %q, want %q", got, tc.partial)
			}
			if k := model.KindOf(err); k != tc.kind {
				t.Fatalf("kind %q, want %q (%v)", k, tc.kind, err)
			}
			if strings.Contains(err.Error(), "sk-secret-key") {
				t.Fatalf("error leaks the API key: %v", err)
			}
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	c := newClient(clientConfig{BaseURL: "http://127.0.0.1:1/v1", APIKey: "k", Model: "m"})
	_, err := collect(t, c, context.Background())
	if !errors.Is(err, model.ErrUnavailable) || model.KindOf(err) != model.KindUnreachable {
		t.Fatalf("err = %v (kind %q), want ErrUnavailable, unreachable", err, model.KindOf(err))
	}
}
