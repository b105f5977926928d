package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"strings"
	"time"
)

// send delivers one email to every address in to, as the settings say.
func (n *Notifier) send(ctx context.Context, to []string, subject, body string) error {
	host, _, _ := net.SplitHostPort(n.cfg.Addr)
	tc := n.cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{}
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	d := net.Dialer{}
	var conn net.Conn
	var err error
	if n.cfg.TLS == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: tc}).DialContext(ctx, "tcp", n.cfg.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", n.cfg.Addr)
	}
	if err != nil {
		return fmt.Errorf("notify: dial %s: %w", n.cfg.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("notify: smtp: %w", err)
	}
	defer c.Close()
	if n.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("notify: the SMTP server offers no STARTTLS (set --smtp-tls none for a trusted relay)")
		}
		if err := c.StartTLS(tc); err != nil {
			return fmt.Errorf("notify: starttls: %w", err)
		}
	}
	if n.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", n.cfg.Username, n.cfg.Password, host)); err != nil {
			return fmt.Errorf("notify: auth: %w", err)
		}
	}
	if err := c.Mail(n.cfg.From); err != nil {
		return fmt.Errorf("notify: mail from: %w", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return fmt.Errorf("notify: rcpt %s: %w", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("notify: data: %w", err)
	}
	if _, err := w.Write(message(n.cfg.From, to, subject, body, time.Now())); err != nil {
		return fmt.Errorf("notify: data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("notify: data: %w", err)
	}
	return c.Quit()
}

// message is the email's bytes: headers and a plain-text body. What a
// visitor typed can reach the subject (their name), so line breaks are
// taken out of it and anything not ASCII is encoded (RFC 2047).
func message(from string, to []string, subject, body string, now time.Time) []byte {
	var b strings.Builder
	id := make([]byte, 12)
	rand.Read(id)
	host := from[strings.LastIndexByte(from, '@')+1:]
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(to, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", oneLine(subject)))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id), host)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n"))
	return []byte(b.String())
}

// oneLine folds line breaks and tabs into spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
