// Package protocol holds the ChatKit wire format, free of Caddy: the strict
// request parser and the per-operation params, threads, items, stream events
// and the SSE framing, serialized exactly as the reference server
// (chatkit-python) does (nulls omitted, lists always present, UTC
// timestamps). The chatkit tests validate every request, answer and event
// against the JSON Schemas generated from the reference's models.
package protocol
