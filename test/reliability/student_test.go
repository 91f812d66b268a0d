package reliability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// student is one simulated student: a browser (its session cookie at the
// provider) and an API client, HTTP/2 or HTTP/1.1, used by one goroutine.
type student struct {
	n            int
	email        string
	site         *site
	h2           bool
	browser, api *http.Client
	access       string
	refreshToken string
	apiURL       string // the ChatKit endpoint; default the site's

	// What the server accepted, checked against storage at the end.
	threads map[string][]string // thread id → texts of accepted user messages
	order   []string            // thread ids in creation order
	sends   int                 // quota-counted operations sent
	ok429   int                 // of which refused with 429
	// unanswered: thread → its last user message, stored while its answer
	// could not be, in a fault that outlived the day (a disk the kernel
	// made read-only): verify lets it stand without an answer.
	unanswered map[string]string
}

// chatEvent is the part of a ChatKit SSE event the harness reads.
type chatEvent struct {
	Type   string `json:"type"`
	Thread struct {
		ID string `json:"id"`
	} `json:"thread"`
	Item struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	} `json:"item"`
	Update struct {
		Type string `json:"type"`
	} `json:"update"`
	Message    string `json:"message"`     // error and notice events
	AllowRetry bool   `json:"allow_retry"` // error events
}

// turn is the outcome of one streaming operation.
type turn struct {
	status    int
	ttft      time.Duration // request sent → first assistant text delta
	thread    string
	userItem  string
	assistant string // text of the finished assistant message
	complete  bool   // assistant message done and the stream ended cleanly
	errEvent  string
	retryable bool     // the error event allows a retry
	notices   []string // notice events' messages (a degraded answer says why)
	err       error    // transport error or cut stream
}

// post sends one ChatKit request (HTTP/1.1 clients re-send it as browsers
// do: resendOnIdleClose).
func (s *student) post(body string) (*http.Response, time.Time, error) {
	endpoint := s.apiURL
	if endpoint == "" {
		endpoint = s.site.URL + "/api/v1/chatkit"
	}
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.access)
	t0 := time.Now()
	resp, err := s.api.Do(req)
	return resp, t0, err
}

func input(text string) map[string]any {
	return map[string]any{"content": []any{map[string]any{"type": "input_text", "text": text}}, "attachments": []any{}, "inference_options": map[string]any{}}
}

// send runs threads.create (thread "") or threads.add_user_message and
// reads the stream to its end.
func (s *student) send(thread, text string) turn {
	var body []byte
	if thread == "" {
		body, _ = json.Marshal(map[string]any{"type": "threads.create", "params": map[string]any{"input": input(text)}})
	} else {
		body, _ = json.Marshal(map[string]any{"type": "threads.add_user_message", "params": map[string]any{"thread_id": thread, "input": input(text)}})
	}
	return s.stream(string(body), thread)
}

// retry runs threads.retry_after_item on a stored user message.
func (s *student) retry(thread, item string) turn {
	body, _ := json.Marshal(map[string]any{"type": "threads.retry_after_item", "params": map[string]any{"thread_id": thread, "item_id": item}})
	return s.stream(string(body), thread)
}

func (s *student) stream(body, thread string) turn {
	s.sends++
	tr := turn{thread: thread}
	resp, t0, err := s.post(body)
	if err != nil {
		if errors.Is(err, errDroppedUnread) {
			s.sends-- // never handled: the quota did not count it either
		}
		tr.err = err
		return tr
	}
	defer resp.Body.Close()
	tr.status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusTooManyRequests {
			s.ok429++
		}
		b, _ := io.ReadAll(resp.Body)
		tr.err = fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
		return tr
	}
	br := bufio.NewReader(resp.Body)
	done := false
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && len(bytes.TrimSpace(line)) == 0 {
				break
			}
			tr.err = fmt.Errorf("stream cut: %v", err)
			return tr
		}
		data, ok := bytes.CutPrefix(line, []byte("data: "))
		if !ok {
			continue
		}
		var ev chatEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			tr.err = fmt.Errorf("bad event %q: %v", data, err)
			return tr
		}
		switch ev.Type {
		case "thread.created":
			tr.thread = ev.Thread.ID
		case "thread.item.updated":
			if tr.ttft == 0 && ev.Update.Type == "assistant_message.content_part.text_delta" {
				tr.ttft = time.Since(t0)
			}
		case "thread.item.done":
			switch ev.Item.Type {
			case "user_message":
				tr.userItem = ev.Item.ID
			case "assistant_message":
				done = true
				for _, c := range ev.Item.Content {
					tr.assistant += c.Text
				}
			}
		case "error":
			tr.errEvent, tr.retryable = string(data), ev.AllowRetry
		case "notice":
			tr.notices = append(tr.notices, ev.Message)
		}
	}
	tr.complete = done && tr.errEvent == ""
	return tr
}

// call is a non-streaming ChatKit operation; it returns the decoded body.
func (s *student) call(body string, out any) error {
	resp, _, err := s.post(body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// storedItem is an item as items.list returns it.
type storedItem struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Content []struct {
		Text string `json:"text"`
	} `json:"content"`
}

func (i storedItem) text() string {
	var b strings.Builder
	for _, c := range i.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

// history loads a thread's items, oldest first.
func (s *student) history(thread string) ([]storedItem, error) {
	var page struct {
		Data    []storedItem `json:"data"`
		HasMore bool         `json:"has_more"`
	}
	err := s.call(`{"type":"items.list","params":{"thread_id":"`+thread+`","limit":100,"order":"asc"}}`, &page)
	if err == nil && page.HasMore {
		err = fmt.Errorf("thread %s has more than 100 items", thread)
	}
	return page.Data, err
}

func (s *student) listThreads() error {
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	return s.call(`{"type":"threads.list","params":{"limit":20}}`, &page)
}

// refresh rotates the student's refresh token (the widget does so a minute
// before the access token expires).
func (s *student) refresh() error {
	tok, err := s.site.refresh(s.browser, s.refreshToken)
	if err != nil {
		return err
	}
	s.access, s.refreshToken = tok.AccessToken, tok.RefreshToken
	return nil
}

// accept records a message the server accepted.
func (s *student) accept(thread, text string) {
	if s.threads == nil {
		s.threads = map[string][]string{}
	}
	if _, ok := s.threads[thread]; !ok {
		s.order = append(s.order, thread)
	}
	s.threads[thread] = append(s.threads[thread], text)
}

// verify checks storage against what was accepted: in every thread the
// accepted user messages exactly (none lost, none twice), each followed by
// a finished assistant message holding the model's whole answer.
func (s *student) verify(check answerCheck) []string {
	var problems []string
	for _, thread := range s.order {
		items, err := s.history(thread)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: history of %s: %v", s.email, thread, err))
			continue
		}
		var users []string
		assistants := 0
		for i, it := range items {
			switch it.Type {
			case "user_message":
				users = append(users, it.text())
				last := i == len(items)-1 && s.unanswered[thread] == it.text()
				if !last && (i+1 >= len(items) || items[i+1].Type != "assistant_message" || !check(items[i+1].text())) {
					problems = append(problems, fmt.Sprintf("%s: thread %s: user message %q has no finished answer after it", s.email, thread, it.text()))
				}
			case "assistant_message":
				assistants++
			}
		}
		if want := s.threads[thread]; strings.Join(users, "\x00") != strings.Join(want, "\x00") {
			problems = append(problems, fmt.Sprintf("%s: thread %s stores user messages %q, accepted %q", s.email, thread, users, want))
		}
		if assistants != len(users) && (s.unanswered[thread] == "" || assistants != len(users)-1) {
			problems = append(problems, fmt.Sprintf("%s: thread %s: %d user messages, %d assistant messages", s.email, thread, len(users), assistants))
		}
	}
	return problems
}

// tally gathers a scenario's figures from every student goroutine.
type tally struct {
	mu         sync.Mutex
	ttft       []time.Duration
	historyLat []time.Duration
	turns      int // complete streamed turns
	requests   int // every API request (turns, lists, history, refreshes)
	refreshes  int
	refused429 int
	lost       []string // transport errors: requests without an answer
	dropped    []string // requests a shutting-down server dropped unread (errDroppedUnread)
	// allowDropped is how many dropped requests the scenario tolerates
	// (the reload scenario: one per reload); past it they fail it.
	allowDropped int
	cut          []string // streams that ended before the answer was done
	errs         []string // unexpected statuses and error events
	outcomes     []outcome
	context      *loadContext // set by runDay
	contextRows  [][2]string
}

// outcome is a finished turn: when it was sent and what it answered.
type outcome struct {
	at      time.Time
	took    time.Duration // to the end of the stream
	text    string
	notices []string // the turn's notice events
}

func (t *tally) add(f func(*tally)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(t)
}

func (t *tally) note(list *[]string, format string, a ...any) {
	t.add(func(*tally) {
		if len(*list) < 1000 {
			*list = append(*list, fmt.Sprintf(format, a...))
		}
	})
}
