package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"time"
)

// TLS modes of an SMTP relay.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS (RFC 3207), usually port 587; required
	TLSImplicit = "implicit" // TLS from the first byte (RFC 8314 §3.3), usually port 465
	TLSNone     = "none"     // no encryption: a relay on loopback or a trusted network only
)

// SMTP is a Sender that hands messages to a relay (RFC 5321), authenticating
// with PLAIN (RFC 4616) when Username is set. Credentials never travel
// unencrypted: with TLS none, net/smtp refuses PLAIN except on loopback.
type SMTP struct {
	Addr     string // host:port
	Username string
	Password string
	TLS      string // TLSStartTLS (default), TLSImplicit or TLSNone
	// TLSConfig overrides the client TLS settings (tests trust their own CA).
	TLSConfig *tls.Config
	// Timeout bounds one whole delivery (default 30 s).
	Timeout time.Duration
}

// Send delivers raw to one recipient.
func (s *SMTP) Send(ctx context.Context, from, to *mail.Address, raw []byte) error {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("smtp address %q: %v", s.Addr, err)
	}
	tlsConfig := s.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	dialer := &net.Dialer{}
	conn, err := dialer.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtp: %v", err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if s.TLS == TLSImplicit {
		conn = tls.Client(conn, tlsConfig)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %v", err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("smtp: %v", err)
	}
	if s.TLS == "" || s.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("smtp: the relay does not offer STARTTLS (set tls none only for a relay on a trusted network)")
		}
		if err := c.StartTLS(tlsConfig); err != nil {
			return fmt.Errorf("smtp: STARTTLS: %v", err)
		}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return fmt.Errorf("smtp: authentication: %v", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %v", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %v", err)
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("smtp: DATA: %v", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: DATA: %v", err)
	}
	return c.Quit()
}
