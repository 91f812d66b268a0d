// Package protocol holds the ChatKit wire format, free of Caddy: the request
// envelope and its per-operation params, threads, items, stream events and
// the SSE framing, serialized exactly as the reference server does (nulls
// omitted, lists always present, UTC timestamps). The contract is
// shared/docs/chatkit-protocol.md; the JSON Schemas in
// shared/conformance/chatkit/ check it in tests.
package protocol
