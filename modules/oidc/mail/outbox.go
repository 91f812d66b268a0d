package mail

import (
	"context"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"time"
)

// Outbox is a Sender that writes each message as one .eml file in Dir
// instead of sending it: for development (`make run` needs no mail server)
// and for tests. Files are named by time, so a listing is in sending order,
// and appear whole (written under a temporary name, then renamed).
type Outbox struct {
	Dir string
	now func() time.Time
}

// NewOutbox returns an Outbox writing into dir, which it creates (0700).
func NewOutbox(dir string) (*Outbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail outbox: %v", err)
	}
	return &Outbox{Dir: dir, now: time.Now}, nil
}

// Send writes the message; the addresses are already in its headers.
func (o *Outbox) Send(ctx context.Context, _ *mail.Address, _ *mail.Address, raw []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := o.now().UTC().Format("20060102T150405.000000000Z") + "-" + randomID()[:8] + ".eml"
	tmp, err := os.CreateTemp(o.Dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("mail outbox: %v", err)
	}
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("mail outbox: %v", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("mail outbox: %v", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(o.Dir, name)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("mail outbox: %v", err)
	}
	return nil
}
