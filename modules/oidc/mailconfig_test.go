package oidc

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalMail(t *testing.T) {
	t.Parallel()
	d := caddyfile.NewTestDispenser(`oidc_provider {
		issuer https://learn.example.com
		mail {
			from "Course <noreply@learn.example.com>"
			smtp smtp.example.com:465 {
				username mailer
				password {env.SMTP_PASSWORD}
				tls implicit
			}
			templates /etc/mail
		}
		require_verified_email
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	m := h.Mail
	if m == nil || m.From != "Course <noreply@learn.example.com>" || m.Templates != "/etc/mail" || m.Outbox != "" || m.SMTP == nil ||
		*m.SMTP != (SMTPConfig{Address: "smtp.example.com:465", Username: "mailer", Password: "{env.SMTP_PASSWORD}", TLS: "implicit"}) ||
		!h.RequireVerifiedEmail {
		t.Fatalf("parsed %+v %+v", m, m.SMTP)
	}

	for _, tc := range []struct{ body, want string }{
		{"mail {\n from a@b.c\n }", "exactly one of smtp and outbox"},
		{"mail {\n from a@b.c\n outbox x\n smtp h:25\n }", "exactly one of smtp and outbox"},
		{"mail {\n outbox x\n }", "from is required"},
		{"mail {\n from a@b.c\n smtp h:25 {\n tls ssl\n }\n }", "not one of starttls"},
		{"mail {\n from a@b.c\n outbox x\n colour blue\n }", "unrecognized mail subdirective"},
		{"mail {\n from a@b.c\n smtp h:25 {\n user x\n }\n }", "unrecognized smtp subdirective"},
		{"mail {\n from a@b.c\n outbox x\n }\n mail {\n from a@b.c\n outbox y\n }", "mail already set"},
		{"require_verified_email yes", "wrong argument count"},
	} {
		d := caddyfile.NewTestDispenser("oidc_provider {\n issuer https://x.example\n " + tc.body + "\n}")
		var h Handler
		err := h.UnmarshalCaddyfile(d)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.body, err, tc.want)
		}
	}
}
