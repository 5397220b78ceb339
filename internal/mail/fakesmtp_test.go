package mail

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// fakeServer is a go-smtp server whose behaviour each test sets, used to
// check what the sender does against TLS modes and failing servers.
type fakeServer struct {
	addr string
	port int

	// behaviour, set before the first connection
	rcptErr  error
	dataErr  func(body []byte) error // may quote the body back, as a hostile server could
	authErr  error
	stallAt  string        // "data": hold the DATA command until release is closed
	release  chan struct{} // closed at cleanup
	mu       sync.Mutex
	received []fakeMail
}

type fakeMail struct {
	raw      []byte
	tls      bool
	authUser string
	authPass string
}

type fakeTLS int

const (
	fakePlain    fakeTLS = iota // no TLS offered
	fakeStartTLS                // STARTTLS offered
	fakeImplicit                // TLS from the first byte
)

// startFake starts a fake server on 127.0.0.1; configure may set behaviour.
func startFake(t *testing.T, mode fakeTLS, cert *tls.Certificate, configure func(*fakeServer)) *fakeServer {
	t.Helper()
	f := &fakeServer{release: make(chan struct{})}
	if configure != nil {
		configure(f)
	}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &fakeSession{f: f, c: c}, nil
	}))
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	s.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if mode != fakePlain {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	if mode == fakeImplicit {
		ln = tls.NewListener(ln, s.TLSConfig)
		s.TLSConfig = nil // no STARTTLS inside TLS
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		close(f.release)
		s.Close()
	})
	f.addr = ln.Addr().String()
	f.port = ln.Addr().(*net.TCPAddr).Port
	return f
}

func (f *fakeServer) mails() []fakeMail {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeMail(nil), f.received...)
}

type fakeSession struct {
	f          *fakeServer
	c          *smtp.Conn
	user, pass string
}

func (s *fakeSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *fakeSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if s.f.authErr != nil {
			return s.f.authErr
		}
		s.user, s.pass = username, password
		return nil
	}), nil
}

func (s *fakeSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *fakeSession) Rcpt(string, *smtp.RcptOptions) error { return s.f.rcptErr }
func (s *fakeSession) Reset()                               {}
func (s *fakeSession) Logout() error                        { return nil }

func (s *fakeSession) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.f.stallAt == "data" {
		<-s.f.release
		return nil
	}
	if s.f.dataErr != nil {
		return s.f.dataErr(body)
	}
	_, isTLS := s.c.TLSConnectionState()
	s.f.mu.Lock()
	s.f.received = append(s.f.received, fakeMail{raw: body, tls: isTLS, authUser: s.user, authPass: s.pass})
	s.f.mu.Unlock()
	return nil
}

// testCert makes a self-signed certificate for localhost and 127.0.0.1 and
// a pool that trusts it.
func testCert(t *testing.T) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "niomon test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
