package chatkit

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/intellistack/intellistack/internal/apierror"
	"github.com/intellistack/intellistack/modules/chatkit/protocol"
)

// Defaults shared by the handler and chatkit_op, so that out of the box
// both read the same body under the same deadline.
const (
	defaultMaxBody     = 1 << 20
	defaultReadTimeout = 10 * time.Second
)

// bodyVar is the request variable holding the *bodyRead of chatkit_op.
const bodyVar = "chatkit.body"

// bodyRead is a request body as chatkit_op or the handler read it, and its
// parse. chatkit_op keeps it in a request variable so that the handler
// neither reads nor parses the body a second time: the operation the quota
// counted is the operation the handler runs.
type bodyRead struct {
	// restored is what r.Body was set to after the read; the record only
	// describes a request whose body is still that one.
	restored io.ReadCloser
	// body is what was read: the whole body unless tooLarge or err.
	body []byte
	// tooLarge: the body is longer than the reader's limit (its own, or a
	// request_body max_size before it).
	tooLarge bool
	// err is a read failure: a deadline, a broken connection.
	err error
	// timeout is the deadline the read had, for the error message.
	timeout time.Duration
	// req and parseErr are the result of parseRequest once body is whole.
	req      *protocol.Request
	parseErr error
}

// complete reports whether the whole body was read.
func (b *bodyRead) complete() bool { return !b.tooLarge && b.err == nil }

// readBody reads r.Body, at most limit bytes, before a deadline timeout from
// now, and parses it when it is whole. It puts back on r.Body what it read,
// ahead of what it did not, so that whoever reads next sees the same bytes
// (and the same error). setDeadline sets the read deadline of the request's
// body; nil means none can be set.
func readBody(r *http.Request, setDeadline func(time.Time) error, limit int64, timeout time.Duration) *bodyRead {
	deadline := setDeadline != nil && timeout > 0 && setDeadline(time.Now().Add(timeout)) == nil
	rec := &bodyRead{timeout: timeout}
	orig := r.Body
	if orig == nil {
		orig = http.NoBody
	}
	rec.body, rec.err = io.ReadAll(io.LimitReader(orig, limit+1))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(rec.err, &mbe):
		rec.tooLarge, rec.err = true, nil
	case rec.err == nil && int64(len(rec.body)) > limit:
		rec.tooLarge = true
	}
	// After a whole body, drop the deadline: on HTTP/1 net/http keeps
	// reading the connection in the background to notice a client that
	// goes away, and an expired deadline there would cancel a running
	// stream. After a failure keep it, so that net/http's drain of an
	// unread body before the response is bounded too.
	if deadline && rec.complete() {
		_ = setDeadline(time.Time{})
	}
	rec.restored = &restoredBody{io.MultiReader(bytes.NewReader(rec.body), orig), orig}
	r.Body = rec.restored
	if rec.complete() {
		rec.req, rec.parseErr = parseRequest(rec.body)
	}
	return rec
}

// sharedBody returns what chatkit_op read of this request's body, or nil
// when it read nothing or the body has been replaced since.
func sharedBody(r *http.Request) *bodyRead {
	rec, _ := caddyhttp.GetVar(r.Context(), bodyVar).(*bodyRead)
	if rec == nil || rec.restored != r.Body {
		return nil
	}
	return rec
}

// restoredBody is a request body put back after a read: the bytes read,
// then the rest of the original, closed through the original.
type restoredBody struct {
	io.Reader
	io.Closer
}

// bodyDeadline returns how to set the read deadline of r's body: through
// Caddy's idle-timeout reader when the server has one (it would otherwise
// replace the deadline before its next read; by default Caddy has one),
// else through an http.ResponseController on w, or on the one Caddy keeps
// for its write idle timeout when the caller has no w (a matcher). nil
// when neither exists.
func bodyDeadline(r *http.Request, w http.ResponseWriter) func(time.Time) error {
	idleReader, idleWriter := caddyhttp.IdleTimeoutsFromContext(r.Context())
	switch {
	case idleReader != nil:
		return idleReader.SetReadDeadline
	case w != nil:
		return http.NewResponseController(w).SetReadDeadline
	case idleWriter != nil && idleWriter.Ctrl != nil:
		return idleWriter.Ctrl.SetReadDeadline
	}
	return nil
}

// readError is the answer to a body that could not be read.
func (b *bodyRead) readError() *apierror.Error {
	if errors.Is(b.err, os.ErrDeadlineExceeded) {
		return apierror.New(http.StatusRequestTimeout, "request_timeout",
			"the request body did not arrive within "+b.timeout.String())
	}
	return protocol.BadRequest("reading the body: %v", b.err)
}
