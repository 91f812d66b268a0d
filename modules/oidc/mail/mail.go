// Package mail sends the provider's e-mails (address verification, password
// reset, "someone tried to sign up with your address"): a Sender interface
// with two implementations, SMTP and an outbox folder of .eml files, behind a
// persisted Queue so that sending never blocks a request and neither a
// restart nor an SMTP outage loses a message.
//
// It is free of Caddy; modules/oidc configures it from the `mail` block.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// Message is one e-mail: a plain-text part and, optionally, an HTML part.
type Message struct {
	To      string // one address, optionally with a display name
	Subject string
	Text    string
	HTML    string
}

// Sender delivers a composed message. Implementations must be safe for
// concurrent use and must honour ctx (a send never outlives its deadline).
type Sender interface {
	Send(ctx context.Context, from *mail.Address, to *mail.Address, raw []byte) error
}

// Compose renders m as an RFC 5322 message (RFC 2045-2047 MIME: a
// multipart/alternative body when there is an HTML part, quoted-printable
// UTF-8 text, encoded-word headers). now and the From address give the Date
// and Message-ID headers.
func Compose(from *mail.Address, m Message, now time.Time) (to *mail.Address, raw []byte, err error) {
	to, err = mail.ParseAddress(m.To)
	if err != nil {
		return nil, nil, fmt.Errorf("recipient %q: %v", m.To, err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, nil, fmt.Errorf("subject holds a line break")
	}
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+randomID()+"@"+domainOf(from.Address)+">")
	header("MIME-Version", "1.0")
	header("Auto-Submitted", "auto-generated") // RFC 3834 §5: no auto-replies
	if m.HTML == "" {
		header("Content-Type", `text/plain; charset="utf-8"`)
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		writeQP(&b, m.Text)
		return to, b.Bytes(), nil
	}
	boundary := "=_" + randomID()
	header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, part := range []struct{ kind, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		fmt.Fprintf(&b, "--%s\r\n", boundary)
		fmt.Fprintf(&b, "Content-Type: %s; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", part.kind)
		writeQP(&b, part.body)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return to, b.Bytes(), nil
}

// writeQP writes s quoted-printable with CRLF line ends, so a long link
// survives transport (soft line breaks) and decodes back whole.
func writeQP(b *bytes.Buffer, s string) {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
	w := quotedprintable.NewWriter(b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
}

func domainOf(addr string) string {
	if _, d, ok := strings.Cut(addr, "@"); ok && d != "" {
		return d
	}
	return "localhost"
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
