// Package fakesmtp is an SMTP relay for tests (RFC 5321 with STARTTLS,
// RFC 3207, and AUTH PLAIN, RFC 4616), so the real net/smtp client is what
// the tests exercise. It keeps every accepted message in memory.
package fakesmtp

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one accepted message.
type Message struct {
	From     string
	To       []string
	Data     string // as received, dot-unstuffed, CRLF line ends
	TLS      bool   // the session was encrypted
	Username string // the AUTH PLAIN identity, if any
}

// Server is a running fake relay.
type Server struct {
	Addr string
	// ClientTLS trusts the server's certificate (for the sender's TLSConfig).
	ClientTLS *tls.Config
	// Username and Password, when set, are required (AUTH PLAIN).
	Username, Password string
	// FailData makes the next n DATA commands answer 451 (a temporary
	// failure the sender must retry).
	FailData int

	ln       net.Listener
	tls      *tls.Config
	mu       sync.Mutex
	messages []Message
	arrived  chan struct{}
}

// Start runs a relay on a free loopback port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cert, pool := selfSigned(t)
	s := &Server{
		Addr:      ln.Addr().String(),
		ClientTLS: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
		ln:        ln,
		tls:       &tls.Config{Certificates: []tls.Certificate{cert}},
		arrived:   make(chan struct{}, 1000),
	}
	go s.serve()
	t.Cleanup(func() { ln.Close() })
	return s
}

// Close stops accepting connections (the relay is "down").
func (s *Server) Close() { s.ln.Close() }

// Messages returns what was accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Wait waits until n messages were accepted or the timeout passes.
func (s *Server) Wait(n int, timeout time.Duration) []Message {
	deadline := time.After(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.arrived:
		case <-deadline:
			return s.Messages()
		}
	}
}

func (s *Server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.session(c)
	}
}

func (s *Server) session(c net.Conn) {
	defer func() { c.Close() }()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	reply := func(line string) { w.WriteString(line + "\r\n"); w.Flush() }
	reply("220 fakesmtp ready")
	var msg Message
	encrypted, authed := false, false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			w.WriteString("250-fakesmtp\r\n")
			if !encrypted {
				w.WriteString("250-STARTTLS\r\n")
			}
			reply("250 AUTH PLAIN")
		case "STARTTLS":
			reply("220 go ahead")
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			c, encrypted = tc, true
			r, w = bufio.NewReader(c), bufio.NewWriter(c)
			reply = func(line string) { w.WriteString(line + "\r\n"); w.Flush() }
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			raw, err := base64.StdEncoding.DecodeString(initial)
			parts := strings.Split(string(raw), "\x00")
			if !strings.EqualFold(mech, "PLAIN") || err != nil || len(parts) != 3 || parts[1] != s.Username || parts[2] != s.Password {
				reply("535 authentication failed")
				continue
			}
			authed, msg.Username = true, parts[1]
			reply("235 authenticated")
		case "MAIL":
			if s.Username != "" && !authed {
				reply("530 authentication required")
				continue
			}
			msg.From = strings.Trim(arg[strings.Index(arg, ":")+1:], "<> ")
			reply("250 ok")
		case "RCPT":
			msg.To = append(msg.To, strings.Trim(arg[strings.Index(arg, ":")+1:], "<> "))
			reply("250 ok")
		case "DATA":
			s.mu.Lock()
			fail := s.FailData > 0
			if fail {
				s.FailData--
			}
			s.mu.Unlock()
			if fail {
				reply("451 try again later")
				continue
			}
			reply("354 end with .")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			msg.Data, msg.TLS = data.String(), encrypted
			s.mu.Lock()
			s.messages = append(s.messages, msg)
			s.mu.Unlock()
			s.arrived <- struct{}{}
			msg = Message{Username: msg.Username}
			reply("250 queued")
		case "RSET":
			msg = Message{Username: msg.Username}
			reply("250 ok")
		case "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fakesmtp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
