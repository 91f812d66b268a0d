package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The strict parser refuses what encoding/json would resolve silently and
// another reader of the same bytes could resolve differently: a key that
// appears twice in one object (encoding/json keeps the last, a streaming
// reader may take the first), and a key that differs from one the protocol
// defines only by case (encoding/json matches keys case-insensitively, with
// Unicode folding). Both would let a request-matcher and the handler disagree
// on the operation. At the top level, which the protocol fixes to type,
// params and metadata, any other key is refused as well; deeper down unknown
// keys are ignored, as the ChatKit reference server does.

// shape is what the parser knows of a JSON value: the keys the protocol
// defines in an object (with the shapes of their values) or the shape of an
// array's elements. A nil *shape is any JSON value: only duplicate keys are
// checked inside it.
type shape struct {
	keys   map[string]*shape
	closed bool // keys other than those in keys are refused
	elem   *shape
}

func object(closed bool, keys map[string]*shape) *shape { return &shape{keys: keys, closed: closed} }

// The shapes of a request. Keys of params name every field of every
// operation (the unsupported ones included), so a case variant of any of
// them is refused whichever operation the request names.
var (
	pageShape = object(false, map[string]*shape{
		"url": nil, "title": nil, "headings": nil, "selection": nil, "selected_text": nil,
		"course": nil, "stage": nil, "lesson": nil,
	})
	contentShape = object(false, map[string]*shape{
		"type": nil, "text": nil, "id": nil, "data": nil, "group": nil, "interactive": nil,
	})
	inputShape = object(false, map[string]*shape{
		"content": {elem: contentShape}, "attachments": nil, "quoted_text": nil,
		"inference_options": object(false, map[string]*shape{
			"tool_choice": object(false, map[string]*shape{"id": nil}), "model": nil,
		}),
		// threads.add_structured_input
		"status": nil, "answers": nil,
	})
	actionShape = object(false, map[string]*shape{"type": nil, "payload": nil})
	paramsShape = object(false, map[string]*shape{
		"thread_id": nil, "item_id": nil, "input": inputShape, "result": nil, "action": actionShape,
		"limit": nil, "order": nil, "after": nil, "title": nil, "item_ids": nil, "kind": nil,
		"name": nil, "size": nil, "mime_type": nil, "attachment_id": nil, "audio_base64": nil,
	})
	requestShape = object(true, map[string]*shape{
		"type": nil, "params": paramsShape,
		"metadata": object(false, map[string]*shape{"page": pageShape}),
	})
)

// checkKeys walks body, one JSON value, against the request's shape.
func checkKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers are not converted, so none is refused here
	if err := walk(dec, requestShape, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return BadRequest("malformed JSON: data after the top-level object")
	}
	return nil
}

func walk(dec *json.Decoder, s *shape, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return malformed(err)
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return malformed(err)
			}
			key, _ := tok.(string)
			if seen[key] {
				return BadRequest("duplicate key %q in %s", key, where(path))
			}
			seen[key] = true
			child, err := s.child(key, path)
			if err != nil {
				return err
			}
			if err := walk(dec, child, join(path, key)); err != nil {
				return err
			}
		}
	case json.Delim('['):
		var elem *shape
		if s != nil {
			elem = s.elem
		}
		for i := 0; dec.More(); i++ {
			if err := walk(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	default:
		return nil // a scalar
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return malformed(err)
	}
	return nil
}

// child returns the shape of key's value in an object of shape s.
func (s *shape) child(key, path string) (*shape, error) {
	if s == nil {
		return nil, nil
	}
	if c, ok := s.keys[key]; ok {
		return c, nil
	}
	for known := range s.keys {
		if strings.EqualFold(key, known) {
			return nil, BadRequest("%q in %s is not %q: keys are case-sensitive", key, where(path), known)
		}
	}
	if s.closed {
		return nil, BadRequest("unknown key %q in %s (expected type, params and metadata)", key, where(path))
	}
	return nil, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func where(path string) string {
	if path == "" {
		return "the request"
	}
	return path
}

func malformed(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return BadRequest("malformed JSON: unexpected end of the body")
	}
	return BadRequest("malformed JSON: %v", err)
}
