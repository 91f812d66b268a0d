package chatkit

import (
	"slices"
	"strings"
	"testing"
)

// TestDispatchTable: the table holds the sixteen operations of the ChatKit
// protocol, each with a parser and exactly one way to answer; the ones
// that stream are the reference's streaming set, all on threads.
func TestDispatchTable(t *testing.T) {
	t.Parallel()
	streaming := []string{"threads.create", "threads.add_user_message", "threads.add_client_tool_output",
		"threads.add_structured_input", "threads.retry_after_item", "threads.custom_action"}
	all := append([]string{"threads.sync_custom_action", "threads.get_by_id", "threads.list", "items.list",
		"threads.update", "threads.delete", "items.feedback", "attachments.create", "attachments.delete",
		"input.transcribe"}, streaming...)
	if len(operations) != len(all) {
		t.Fatalf("%d operations in the table, want %d", len(operations), len(all))
	}
	for _, name := range all {
		op, ok := operations[name]
		switch {
		case !ok:
			t.Errorf("%s is missing", name)
		case op.parse == nil || (op.prepare == nil) == (op.answer == nil):
			t.Errorf("%s: parse %v, prepare %v, answer %v", name, op.parse != nil, op.prepare != nil, op.answer != nil)
		case (op.prepare != nil) != slices.Contains(streaming, name):
			t.Errorf("%s: streams %v", name, op.prepare != nil)
		case op.prepare != nil && !strings.HasPrefix(name, "threads."):
			t.Errorf("%s streams", name)
		}
	}
}
