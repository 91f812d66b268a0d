package chatkit

import (
	"context"

	"github.com/intellistack/intellistack/modules/chatkit/protocol"
)

// operation is one row of the dispatch table: how the operation's params
// are checked, and what answers it. Exactly one of prepare and answer is
// set.
type operation struct {
	parse protocol.ParamsParser
	// prepare starts a streaming operation: every check and write that can
	// fail runs here, before the first byte of the SSE answer, so failures
	// are still HTTP errors.
	prepare func(s *server, ctx context.Context, st *storage, c *call) (*turn, error)
	// answer is the JSON body of a 200 for the other operations.
	answer func(s *server, ctx context.Context, st *storage, c *call) (any, error)
}

// operations is the dispatch table, operation → params → handler: the one
// place that says which operations exist, which stream, and what serves
// them. chatkit_op and the handler parse with it (parseRequest).
var operations = map[string]operation{
	protocol.OpThreadsCreate:         streamed((*protocol.Params).ThreadCreate, (*server).startThread),
	protocol.OpThreadsAddUserMessage: streamed((*protocol.Params).AddUserMessage, (*server).addUserMessage),
	protocol.OpThreadsRetryAfterItem: streamed((*protocol.Params).RetryAfterItem, (*server).retryAfterItem),
	protocol.OpThreadsAddClientTool:  streamed((*protocol.Params).AddClientToolOutput, (*server).addClientToolOutput),
	protocol.OpThreadsCustomAction:   streamed((*protocol.Params).CustomAction, (*server).customAction),
	protocol.OpThreadsAddStructured:  streamed((*protocol.Params).ThreadOnly, notSupported[*protocol.ThreadIDParams, *turn]),

	protocol.OpThreadsGetByID:          answered((*protocol.Params).ThreadOnly, (*server).getThread),
	protocol.OpThreadsList:             answered((*protocol.Params).ListThreads, (*server).listThreads),
	protocol.OpItemsList:               answered((*protocol.Params).ListItems, (*server).listItems),
	protocol.OpThreadsUpdate:           answered((*protocol.Params).UpdateThread, (*server).updateThread),
	protocol.OpThreadsDelete:           answered((*protocol.Params).ThreadOnly, (*server).deleteThread),
	protocol.OpItemsFeedback:           answered((*protocol.Params).Feedback, (*server).feedback),
	protocol.OpThreadsSyncCustomAction: answered((*protocol.Params).CustomAction, notSupported[*protocol.CustomActionParams, any]),
	protocol.OpAttachmentsCreate:       answered((*protocol.Params).Unchecked, notSupported[struct{}, any]),
	protocol.OpAttachmentsDelete:       answered((*protocol.Params).Unchecked, notSupported[struct{}, any]),
	protocol.OpInputTranscribe:         answered((*protocol.Params).Unchecked, notSupported[struct{}, any]),
}

// parseRequest is protocol.ParseRequest over the dispatch table.
func parseRequest(body []byte) (*protocol.Request, error) {
	return protocol.ParseRequest(body, func(op string) (protocol.ParamsParser, bool) {
		o, ok := operations[op]
		return o.parse, ok
	})
}

// streamed is a row for a streaming operation with params P.
func streamed[P any](parse func(*protocol.Params) (P, error),
	prepare func(*server, context.Context, *storage, *call, P) (*turn, error)) operation {
	return operation{
		parse: params(parse),
		prepare: func(s *server, ctx context.Context, st *storage, c *call) (*turn, error) {
			return prepare(s, ctx, st, c, c.req.Params.(P))
		},
	}
}

// answered is a row for a JSON operation with params P.
func answered[P any, R any](parse func(*protocol.Params) (P, error),
	answer func(*server, context.Context, *storage, *call, P) (R, error)) operation {
	return operation{
		parse: params(parse),
		answer: func(s *server, ctx context.Context, st *storage, c *call) (any, error) {
			return answer(s, ctx, st, c, c.req.Params.(P))
		},
	}
}

func params[P any](parse func(*protocol.Params) (P, error)) protocol.ParamsParser {
	return func(p *protocol.Params) (any, error) {
		v, err := parse(p)
		if err != nil {
			return nil, err
		}
		return v, nil
	}
}

// notSupported refuses an operation this server does not implement; when
// it names a thread, only after the ownership check, so that another user's
// thread still answers exactly like a missing one.
func notSupported[P any, R any](_ *server, ctx context.Context, st *storage, c *call, p P) (R, error) {
	var zero R
	if t, ok := any(p).(protocol.OnThread); ok {
		if _, err := st.getThread(ctx, c.user.ID, t.Thread()); err != nil {
			return zero, err
		}
	}
	return zero, unsupported(c.req.Type)
}
