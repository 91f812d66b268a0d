package model

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		err         error
		kind        ErrorKind
		unavailable bool
	}{
		{&Error{Kind: KindStatus, Msg: "HTTP 500"}, KindStatus, true},
		{fmt.Errorf("wrapped: %w", &Error{Kind: KindTimeout, Msg: "no token"}), KindTimeout, true},
		{&Error{Kind: KindStream, Partial: true, Msg: "cut"}, KindStream, false},
		{fmt.Errorf("%w: refused", ErrUnavailable), KindUnreachable, true}, // a model that does not classify
		{errors.New("broke"), KindStream, false},
	} {
		if got := KindOf(tc.err); got != tc.kind {
			t.Errorf("KindOf(%v) = %q, want %q", tc.err, got, tc.kind)
		}
		if errors.Is(tc.err, ErrUnavailable) != tc.unavailable {
			t.Errorf("%v: ErrUnavailable = %v", tc.err, !tc.unavailable)
		}
	}
	if got := (&Error{Kind: KindStatus, Msg: "HTTP 500"}).Error(); got != "model unavailable: HTTP 500" {
		t.Errorf("text %q", got)
	}
}
