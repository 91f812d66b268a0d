package mail_test

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intellistack/intellistack/internal/testutil"
	"github.com/intellistack/intellistack/modules/oidc/internal/fakesmtp"
	oidcmail "github.com/intellistack/intellistack/modules/oidc/mail"
	"github.com/intellistack/intellistack/modules/store"
)

var from = &mail.Address{Name: "Python 101", Address: "noreply@learn.example.com"}

const link = "https://learn.example.com/oauth2/verify-email?token=AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789xyz"

func render(t *testing.T) oidcmail.Message {
	t.Helper()
	tmpl, err := oidcmail.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	m, err := tmpl.Render(oidcmail.KindVerifyEmail, "Ada Lovelace <ada@example.com>", oidcmail.Data{
		Product: "Python 101", Name: "Ada", Email: "ada@example.com", Link: link, ExpiresIn: "24 hours",
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// parts reads an RFC 5322 message back: its headers and its decoded text
// and HTML parts.
func parts(t *testing.T, raw string) (mail.Header, string, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("not RFC 5322: %v\n%s", err, raw)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var text, html string
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Fatalf("part encoding %q", p.Header.Get("Content-Transfer-Encoding"))
		}
		body, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			text = string(body)
		case "text/html":
			html = string(body)
		}
	}
	return msg.Header, text, html
}

func TestComposeIsRFC5322WithTextAndHTML(t *testing.T) {
	t.Parallel()
	_, raw, err := oidcmail.Compose(from, render(t), time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	h, text, html := parts(t, string(raw))
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(h.Get("Subject"))
	if subject != "Confirm your e-mail address for Python 101" || h.Get("To") != `"Ada Lovelace" <ada@example.com>` ||
		!strings.HasSuffix(h.Get("Message-Id"), "@learn.example.com>") || h.Get("Date") != "Sun, 29 Nov 2026 10:00:00 +0000" {
		t.Fatalf("headers: %v (subject %q)", h, subject)
	}
	// The link stands on a line of its own in the text part, whole.
	found := false
	for _, line := range strings.Split(text, "\r\n") {
		found = found || line == link
	}
	if !found {
		t.Fatalf("text part lacks the link on its own line:\n%s", text)
	}
	if !strings.Contains(html, `href="`+link+`"`) {
		t.Fatalf("html part lacks the link:\n%s", html)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 78 {
			t.Fatalf("line over 78 characters (RFC 5322 §2.1.1): %q", line)
		}
	}
}

func TestComposeRefusesBadInput(t *testing.T) {
	t.Parallel()
	for _, m := range []oidcmail.Message{
		{To: "not an address", Subject: "x", Text: "x"},
		{To: "a@example.com", Subject: "x\r\nBcc: victim@example.com", Text: "x"},
	} {
		if _, _, err := oidcmail.Compose(from, m, time.Now()); err == nil {
			t.Errorf("accepted %+v", m)
		}
	}
}

func TestTemplatesOverridable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "verify-email.txt"), []byte(`{{define "verify-email.subject"}}Welcome to {{.Product}}{{end}}{{define "verify-email.text"}}Click: {{.Link}}{{end}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tmpl, err := oidcmail.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tmpl.Render(oidcmail.KindVerifyEmail, "a@example.com", oidcmail.Data{Product: "P", Link: "L"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Welcome to P" || m.Text != "Click: L" || !strings.Contains(m.HTML, "Confirm my address") {
		t.Fatalf("%+v", m)
	}
	if _, err := oidcmail.LoadTemplates(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing template folder was accepted")
	}
}

func TestOutboxWritesWholeEmlFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "outbox")
	box, err := oidcmail.NewOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	to, raw, err := oidcmail.Compose(from, render(t), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := box.Send(context.Background(), from, to, raw); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 || !strings.HasSuffix(files[0], ".eml") {
		t.Fatalf("outbox holds %v", files)
	}
	info, _ := os.Stat(files[0])
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("outbox file mode %o", info.Mode().Perm())
	}
	b, _ := os.ReadFile(files[0])
	if _, text, _ := parts(t, string(b)); !strings.Contains(text, link) {
		t.Fatal("outbox message lacks the link")
	}
}

func TestSMTPStartTLSAndAuth(t *testing.T) {
	t.Parallel()
	relay := fakesmtp.Start(t)
	relay.Username, relay.Password = "mailer", "s3cret"
	s := &oidcmail.SMTP{Addr: relay.Addr, Username: "mailer", Password: "s3cret", TLS: oidcmail.TLSStartTLS, TLSConfig: relay.ClientTLS}
	to, raw, err := oidcmail.Compose(from, render(t), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), from, to, raw); err != nil {
		t.Fatal(err)
	}
	got := relay.Messages()
	if len(got) != 1 || !got[0].TLS || got[0].Username != "mailer" || got[0].From != from.Address || got[0].To[0] != "ada@example.com" {
		t.Fatalf("relay got %+v", got)
	}
	if _, text, _ := parts(t, got[0].Data); !strings.Contains(text, link) {
		t.Fatal("the relayed message lost the link")
	}

	bad := *s
	bad.Password = "wrong"
	if err := bad.Send(context.Background(), from, to, raw); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v (the error must not echo it)", err)
	}
	relay.Close()
	if err := s.Send(context.Background(), from, to, raw); err == nil {
		t.Fatal("a relay that is down accepted a message")
	}
}

// The queue's behaviour on both databases: delivery, retry with backoff on a
// relay failure, a send that crashed after its claim retried once the lease
// ends, and two workers delivering each message once.
func TestQueue(t *testing.T) {
	ddl, err := os.ReadFile(filepath.Join("..", "migrations", "0002_mail_queue.sql"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.ForEachDatabase(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		if _, err := db.Exec(ctx, string(ddl)); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
		relay := fakesmtp.Start(t)
		sender := &oidcmail.SMTP{Addr: relay.Addr, TLS: oidcmail.TLSStartTLS, TLSConfig: relay.ClientTLS}
		now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		q := oidcmail.NewQueue(db, sender, from, nil, clock)

		// Delivered, and gone from the table.
		if err := q.Enqueue(ctx, render(t)); err != nil {
			t.Fatal(err)
		}
		if n, err := q.DeliverDue(ctx); err != nil || n != 1 || len(relay.Messages()) != 1 {
			t.Fatalf("delivered %d (%v), relay has %d", n, err, len(relay.Messages()))
		}
		if pending(t, db) != 0 {
			t.Fatal("a delivered message stayed queued")
		}

		// A relay failing twice: retried after 30 s, then after 1 min.
		relay.FailData = 2
		if err := q.Enqueue(ctx, render(t)); err != nil {
			t.Fatal(err)
		}
		if n, _ := q.DeliverDue(ctx); n != 0 {
			t.Fatal("delivered despite the relay's 451")
		}
		advance(29 * time.Second)
		if n, _ := q.DeliverDue(ctx); n != 0 {
			t.Fatal("retried before the backoff ended")
		}
		advance(time.Second)
		if n, _ := q.DeliverDue(ctx); n != 0 {
			t.Fatal("second failure not seen")
		}
		advance(time.Minute)
		if n, err := q.DeliverDue(ctx); n != 1 || err != nil {
			t.Fatalf("third attempt delivered %d (%v)", n, err)
		}

		// A node that claimed a message and died: another delivers it once
		// the lease has run out, not before.
		if err := q.Enqueue(ctx, render(t)); err != nil {
			t.Fatal(err)
		}
		crashed := oidcmail.NewQueue(db, crashingSender{}, from, nil, clock)
		func() {
			defer func() { _ = recover() }()
			_, _ = crashed.DeliverDue(ctx)
		}()
		restarted := oidcmail.NewQueue(db, sender, from, nil, clock)
		if n, _ := restarted.DeliverDue(ctx); n != 0 {
			t.Fatal("a claimed message was sent again before its lease ended")
		}
		advance(restarted.Lease + time.Second)
		if n, err := restarted.DeliverDue(ctx); n != 1 || err != nil {
			t.Fatalf("after the lease: delivered %d (%v)", n, err)
		}

		// Two workers, twenty messages: each delivered exactly once.
		before := len(relay.Messages())
		for i := 0; i < 20; i++ {
			if err := q.Enqueue(ctx, render(t)); err != nil {
				t.Fatal(err)
			}
		}
		other := oidcmail.NewQueue(db, sender, from, nil, clock)
		var wg sync.WaitGroup
		for _, w := range []*oidcmail.Queue{q, other} {
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = w.DeliverDue(ctx) }()
		}
		wg.Wait()
		if got := len(relay.Messages()) - before; got != 20 || pending(t, db) != 0 {
			t.Fatalf("two workers delivered %d of 20, %d left", got, pending(t, db))
		}
	})
}

// crashingSender dies in the middle of a send, as a node killed mid-delivery.
type crashingSender struct{}

func (crashingSender) Send(context.Context, *mail.Address, *mail.Address, []byte) error {
	panic("node killed mid-send")
}

func pending(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), "SELECT COUNT(*) FROM oidc_mail_queue").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
