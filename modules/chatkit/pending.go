package chatkit

import "github.com/intellistack/intellistack/modules/chatkit/protocol"

// pendingMessage is an assistant message being streamed, as the client
// has it so far. Text deltas are appended to a buffer per content part and
// folded into the item only when it is read (a stopped or unfinished
// reply): adding each delta to the item's string copied the whole text
// every time, quadratic in the length of a long reply.
type pendingMessage struct {
	item   *protocol.AssistantMessageItem
	deltas []partText // text not yet in item, by content index
}

type partText struct {
	index int
	text  []byte
}

// apply applies an update as protocol.ApplyUpdate would have, in order.
func (p *pendingMessage) apply(u protocol.Update) {
	if d, ok := u.(protocol.TextDelta); ok && d.ContentIndex >= 0 {
		for i := range p.deltas {
			if p.deltas[i].index == d.ContentIndex {
				p.deltas[i].text = append(p.deltas[i].text, d.Delta...)
				return
			}
		}
		p.deltas = append(p.deltas, partText{index: d.ContentIndex, text: []byte(d.Delta)})
		return
	}
	p.message()
	protocol.ApplyUpdate(p.item, u)
}

// message folds the buffered text in and returns the item.
func (p *pendingMessage) message() *protocol.AssistantMessageItem {
	for _, d := range p.deltas {
		protocol.ApplyUpdate(p.item, protocol.TextDelta{ContentIndex: d.index, Delta: string(d.text)})
	}
	p.deltas = p.deltas[:0]
	return p.item
}
