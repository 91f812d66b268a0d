package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
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

// maxDepth bounds the nesting of a request: no request of the protocol
// comes near it, and the walk below recurses once per level.
const maxDepth = 128

// checkKeys checks body, one JSON value, against the request's shape. It
// first lets encoding/json validate the syntax (a fast scan), then walks the
// bytes once itself: encoding/json's token API would cost ten times the
// scan for a body of many small values.
func checkKeys(body []byte) error {
	if !json.Valid(body) {
		var v any
		return BadRequest("malformed JSON: %v", json.Unmarshal(body, &v))
	}
	w := walker{b: body}
	return w.value(requestShape, nil, 0)
}

// walker reads a JSON text that json.Valid accepted.
type walker struct {
	b   []byte
	pos int
}

func (w *walker) space() {
	for w.pos < len(w.b) {
		switch w.b[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

// value reads one value of shape s at path at.
func (w *walker) value(s *shape, at *path, depth int) error {
	w.space()
	switch w.b[w.pos] {
	case '{':
		if depth >= maxDepth {
			return BadRequest("the request is nested more than %d levels deep", maxDepth)
		}
		return w.object(s, at, depth)
	case '[':
		if depth >= maxDepth {
			return BadRequest("the request is nested more than %d levels deep", maxDepth)
		}
		var elem *shape
		if s != nil {
			elem = s.elem
		}
		w.pos++
		for i := 0; ; i++ {
			w.space()
			if w.b[w.pos] == ']' {
				w.pos++
				return nil
			}
			if w.b[w.pos] == ',' {
				w.pos++
			}
			if err := w.value(elem, &path{parent: at, index: i}, depth+1); err != nil {
				return err
			}
		}
	case '"':
		w.str()
	default: // a number, true, false or null
		for w.pos < len(w.b) && !strings.ContainsRune(",]} \t\n\r", rune(w.b[w.pos])) {
			w.pos++
		}
	}
	return nil
}

// object reads an object: each key once, and, in an object the protocol
// defines, spelled as the protocol spells it.
func (w *walker) object(s *shape, at *path, depth int) error {
	w.pos++
	var seen []string // a handful of keys: a slice beats a map
	var many map[string]bool
	for {
		w.space()
		switch w.b[w.pos] {
		case '}':
			w.pos++
			return nil
		case ',':
			w.pos++
			w.space()
		}
		key := w.key()
		if slices.Contains(seen, key) || many[key] {
			return BadRequest("duplicate key %q in %s", key, at)
		}
		if len(seen) < 16 {
			seen = append(seen, key)
		} else {
			if many == nil {
				many = map[string]bool{}
			}
			many[key] = true
		}
		child, err := s.child(key, at)
		if err != nil {
			return err
		}
		w.space()
		w.pos++ // the colon
		if err := w.value(child, &path{parent: at, key: key}, depth+1); err != nil {
			return err
		}
	}
}

// str skips a string and returns its raw bytes, quotes excluded.
func (w *walker) str() []byte {
	start := w.pos + 1
	for w.pos = start; w.b[w.pos] != '"'; w.pos++ {
		if w.b[w.pos] == '\\' {
			w.pos++ // the escaped byte cannot end the string
		}
	}
	w.pos++
	return w.b[start : w.pos-1]
}

// key reads an object key, unescaped: "\u0074ype" is the key type.
func (w *walker) key() string {
	start := w.pos
	raw := w.str()
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	var k string
	_ = json.Unmarshal(w.b[start:w.pos], &k)
	return k
}

// path is where a value sits, built only when an error names it: a string
// per level would cost time quadratic in the depth.
type path struct {
	parent *path
	key    string
	index  int // for array elements, when key is ""
}

func (p *path) String() string {
	if p == nil {
		return "the request"
	}
	var parts []string
	for ; p != nil; p = p.parent {
		if p.key != "" {
			parts = append(parts, "."+p.key)
		} else {
			parts = append(parts, fmt.Sprintf("[%d]", p.index))
		}
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteString(parts[i])
	}
	return strings.TrimPrefix(b.String(), ".")
}

// child returns the shape of key's value in an object of shape s.
func (s *shape) child(key string, at *path) (*shape, error) {
	if s == nil {
		return nil, nil
	}
	if c, ok := s.keys[key]; ok {
		return c, nil
	}
	for known := range s.keys {
		if strings.EqualFold(key, known) {
			return nil, BadRequest("%q in %s is not %q: keys are case-sensitive", key, at, known)
		}
	}
	if s.closed {
		return nil, BadRequest("unknown key %q in %s (expected type, params and metadata)", key, at)
	}
	return nil, nil
}
