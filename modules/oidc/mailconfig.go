package oidc

import (
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	netmail "net/mail"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/intellistack/intellistack/modules/oidc/mail"
	"github.com/intellistack/intellistack/modules/ratelimit"
	"github.com/intellistack/intellistack/modules/store"
)

// MailConfig is the `mail` block of `oidc_provider`: where the provider's
// e-mails (address verification, password reset, "someone tried to sign up
// with your address") go. Exactly one of SMTP and Outbox. Without a mail
// block there is no verification, no password reset, and sign-up answers
// "this address is taken" (the enumeration-safe answer needs a mail to the
// owner).
//
//	mail {
//		from "Course <noreply@learn.example.com>"
//		smtp smtp.example.com:587 {
//			username mailer
//			password {env.SMTP_PASSWORD}
//			tls starttls|implicit|none
//		}
//		templates /etc/caddy/mail-templates
//	}
//
// or, for development, `outbox <dir>` instead of `smtp`.
type MailConfig struct {
	// From is the sender, an RFC 5322 address with an optional display
	// name. Required. Placeholders ({env.*}) are expanded at provision.
	//
	//	from "Course <noreply@learn.example.com>"
	From string `json:"from,omitempty"`

	// SMTP is a relay (RFC 5321) that accepts the provider's mail.
	//
	//	smtp <host:port> { … }
	SMTP *SMTPConfig `json:"smtp,omitempty"`

	// Outbox is a folder where each message is written as an .eml file
	// instead of being sent: for development and tests. A relative path is
	// relative to Caddy's working directory; created 0700.
	//
	//	outbox <dir>
	Outbox string `json:"outbox,omitempty"`

	// Templates is a folder of mail templates overriding the embedded ones
	// by file name (verify-email.txt/.html, reset-password.txt/.html,
	// account-exists.txt/.html; see modules/oidc/mail/templates). Default:
	// the embedded templates only.
	//
	//	templates <dir>
	Templates string `json:"templates,omitempty"`
}

// SMTPConfig is a relay and its credentials.
type SMTPConfig struct {
	// Address is host:port of the relay.
	Address string `json:"address,omitempty"`

	// Username enables AUTH PLAIN (RFC 4616). Default: no authentication.
	//
	//	username <name>
	Username string `json:"username,omitempty"`

	// Password of Username; use a placeholder such as {env.SMTP_PASSWORD},
	// expanded at provision.
	//
	//	password <secret>
	Password string `json:"password,omitempty"`

	// TLS is starttls (RFC 3207, usually port 587; the relay must offer
	// it), implicit (RFC 8314, usually port 465) or none (a relay on
	// loopback or a trusted network; credentials are then refused except on
	// loopback). Default: starttls.
	//
	//	tls starttls|implicit|none
	TLS string `json:"tls,omitempty"`
}

// testSMTPTLS, when set by this package's tests, is the client TLS
// configuration of SMTP senders (to trust a test relay's certificate).
var testSMTPTLS *tls.Config

// unmarshalMail parses the `mail` block.
func unmarshalMail(d *caddyfile.Dispenser) (*MailConfig, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	m := new(MailConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "from":
			if !d.Args(&m.From) || d.NextArg() {
				return nil, d.ArgErr()
			}
		case "outbox":
			if !d.Args(&m.Outbox) || d.NextArg() {
				return nil, d.ArgErr()
			}
		case "templates":
			if !d.Args(&m.Templates) || d.NextArg() {
				return nil, d.ArgErr()
			}
		case "smtp":
			if m.SMTP != nil {
				return nil, d.Err("mail: smtp already set")
			}
			s := new(SMTPConfig)
			if !d.Args(&s.Address) || d.NextArg() {
				return nil, d.Err("expected: smtp <host:port> { … }")
			}
			for n := d.Nesting(); d.NextBlock(n); {
				switch d.Val() {
				case "username":
					if !d.Args(&s.Username) || d.NextArg() {
						return nil, d.ArgErr()
					}
				case "password":
					if !d.Args(&s.Password) || d.NextArg() {
						return nil, d.ArgErr()
					}
				case "tls":
					if !d.Args(&s.TLS) || d.NextArg() {
						return nil, d.ArgErr()
					}
					switch s.TLS {
					case mail.TLSStartTLS, mail.TLSImplicit, mail.TLSNone:
					default:
						return nil, d.Errf("mail: smtp tls %q is not one of starttls, implicit, none", s.TLS)
					}
				default:
					return nil, d.Errf("unrecognized smtp subdirective: %s", d.Val())
				}
			}
			m.SMTP = s
		default:
			return nil, d.Errf("unrecognized mail subdirective: %s", d.Val())
		}
	}
	if (m.SMTP == nil) == (m.Outbox == "") {
		return nil, d.Err("mail: set exactly one of smtp and outbox")
	}
	if m.From == "" {
		return nil, d.Err("mail: from is required")
	}
	return m, nil
}

// mailer renders and queues the provider's mails.
type mailer struct {
	queue     *mail.Queue
	templates *mail.Templates
	product   string
	limit     ratelimit.Limiter // mails per address (mailLimit)
}

// provisionMail builds the sender and the queue; the queue's worker runs
// until ctx (the module's context) ends at Cleanup. During a reload two
// generations may both run a worker: the claim lease keeps them from
// sending one message twice.
func provisionMail(ctx caddy.Context, cfg *MailConfig, app *store.App, logger *zap.Logger, now func() time.Time) (*mailer, error) {
	repl := caddy.NewReplacer()
	from, err := netmail.ParseAddress(repl.ReplaceKnown(cfg.From, ""))
	if err != nil {
		return nil, fmt.Errorf("mail: from %q: %v", cfg.From, err)
	}
	var sender mail.Sender
	if cfg.SMTP != nil {
		s := &mail.SMTP{
			Addr:     repl.ReplaceKnown(cfg.SMTP.Address, ""),
			Username: repl.ReplaceKnown(cfg.SMTP.Username, ""),
			Password: repl.ReplaceKnown(cfg.SMTP.Password, ""),
			TLS:      cfg.SMTP.TLS,
		}
		if s.Username != "" && s.Password == "" {
			return nil, fmt.Errorf("mail: smtp password %q expanded to an empty value", cfg.SMTP.Password)
		}
		if testSMTPTLS != nil {
			s.TLSConfig = testSMTPTLS
		}
		sender = s
	} else {
		dir := repl.ReplaceKnown(cfg.Outbox, "")
		if !filepath.IsAbs(dir) {
			if dir, err = filepath.Abs(dir); err != nil {
				return nil, fmt.Errorf("mail: outbox: %v", err)
			}
		}
		if sender, err = mail.NewOutbox(dir); err != nil {
			return nil, err
		}
		logger.Info("mail goes to an outbox folder, not to recipients", zap.String("outbox", dir))
	}
	tmpl, err := mail.LoadTemplates(repl.ReplaceKnown(cfg.Templates, ""))
	if err != nil {
		return nil, err
	}
	q := mail.NewQueue(lazyDB{app.DB}, sender, from, logger.Named("mail"), now)
	go func() {
		// The database opens when the app starts, after Provision.
		for {
			if _, err := app.DB(ctx); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		q.Run(ctx)
	}()
	limit, err := ratelimit.NewDatabaseLimiter(app, ratelimit.Config{Zone: "oidc.mail.account",
		Limits: []ratelimit.Limit{{Count: mailLimit.count, Window: mailLimit.window}}, Now: now})
	if err != nil {
		return nil, fmt.Errorf("mail limit: %v", err)
	}
	return &mailer{queue: q, templates: tmpl, product: from.Name, limit: limit}, nil
}

// lazyDB is the app's database, opened on first use.
type lazyDB struct {
	open func(context.Context) (*store.DB, error)
}

func (l lazyDB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	db, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	return db.Exec(ctx, query, args...)
}

func (l lazyDB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	db, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	return db.Query(ctx, query, args...)
}

// send renders a mail of kind for a recipient and queues it.
func (m *mailer) send(ctx context.Context, kind, to, name, link, expiresIn string) error {
	msg, err := m.templates.Render(kind, to, mail.Data{Product: m.product, Name: name, Email: to, Link: link, ExpiresIn: expiresIn})
	if err != nil {
		return err
	}
	return m.queue.Enqueue(ctx, msg)
}
