// Package appstest runs what domain proofs are checked against in tests:
// a DNS server on loopback that answers TXT queries, as a developer's
// name server would.
package appstest

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// Zone is a DNS server's TXT records; Set may change them while it runs.
type Zone struct {
	mu      sync.Mutex
	records map[string][]string
	addr    string
}

// Set makes name answer txts (none: NXDOMAIN).
func (z *Zone) Set(name string, txts ...string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if len(txts) == 0 {
		delete(z.records, name)
		return
	}
	z.records[name] = txts
}

func (z *Zone) lookup(name string) ([]string, bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	r, ok := z.records[name]
	return r, ok
}

// Resolver asks this server only.
func (z *Zone) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", z.addr)
	}}
}

// DNSServer answers TXT queries from records over UDP on loopback until
// the test ends.
func DNSServer(t testing.TB, records map[string][]string) *Zone {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	z := &Zone{records: map[string][]string{}, addr: pc.LocalAddr().String()}
	for k, v := range records {
		z.records[k] = v
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if msg, ok := z.answer(buf[:n]); ok {
				_, _ = pc.WriteTo(msg, from)
			}
		}
	}()
	return z
}

func (z *Zone) answer(query []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	txts, ok := z.lookup(strings.TrimSuffix(q.Name.String(), "."))
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true}
	if !ok {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	if q.Type == dnsmessage.TypeTXT {
		for _, txt := range txts {
			_ = b.TXTResource(dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeTXT, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.TXTResource{TXT: []string{txt}})
		}
	}
	msg, err := b.Finish()
	return msg, err == nil
}
