package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
)

//go:embed templates/*.txt templates/*.html
var defaultTemplates embed.FS

// Kinds of message the provider sends; each has a template file pair
// <kind>.txt (defining <kind>.subject and <kind>.text) and <kind>.html
// (defining <kind>.html).
const (
	KindVerifyEmail   = "verify-email"
	KindResetPassword = "reset-password"
	KindAccountExists = "account-exists"
)

// Data is what a template sees.
type Data struct {
	Product   string // the product name (branding), e.g. "Python 101"
	Name      string // the user's name, may be empty
	Email     string
	Link      string // the action link; the text part puts it on a line of its own
	ExpiresIn string // e.g. "24 hours"
}

// Templates renders messages. Operators override any file by putting one of
// the same name in their folder (the `templates` option of the `mail` block).
type Templates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// LoadTemplates parses the embedded templates, then those in dir (if any).
func LoadTemplates(dir string) (*Templates, error) {
	text, err := texttemplate.ParseFS(defaultTemplates, "templates/*.txt")
	if err != nil {
		return nil, err
	}
	html, err := htmltemplate.ParseFS(defaultTemplates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	if dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("mail templates: %v", err)
		}
		if files, _ := filepath.Glob(filepath.Join(dir, "*.txt")); len(files) > 0 {
			if text, err = text.ParseFiles(files...); err != nil {
				return nil, fmt.Errorf("mail templates: %v", err)
			}
		}
		if files, _ := filepath.Glob(filepath.Join(dir, "*.html")); len(files) > 0 {
			if html, err = html.ParseFiles(files...); err != nil {
				return nil, fmt.Errorf("mail templates: %v", err)
			}
		}
	}
	t := &Templates{text: text, html: html}
	for _, kind := range []string{KindVerifyEmail, KindResetPassword, KindAccountExists} {
		if _, err := t.Render(kind, "x@example.com", Data{Link: "https://example.com/x"}); err != nil {
			return nil, fmt.Errorf("mail templates: %v", err)
		}
	}
	return t, nil
}

// Render builds the message of one kind for one recipient.
func (t *Templates) Render(kind, to string, d Data) (Message, error) {
	var subject, text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&subject, kind+".subject", d); err != nil {
		return Message{}, err
	}
	if err := t.text.ExecuteTemplate(&text, kind+".text", d); err != nil {
		return Message{}, err
	}
	if err := t.html.ExecuteTemplate(&html, kind+".html", d); err != nil {
		return Message{}, err
	}
	return Message{
		To:      to,
		Subject: strings.Join(strings.Fields(subject.String()), " "),
		Text:    strings.TrimLeft(text.String(), "\n"),
		HTML:    html.String(),
	}, nil
}
