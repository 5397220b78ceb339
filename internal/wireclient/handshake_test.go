package wireclient_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/flynn/noise"
	"github.com/fxamacker/cbor/v2"

	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/wireclient"
)

func keyFromHex(t testing.TB, s string) wire.PrivateKey {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad key hex in test: %v", err)
	}
	k, err := wire.NewPrivateKey((*[32]byte)(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// recorder is a connection that records writes and reads from a script.
type recorder struct {
	r io.Reader
	w bytes.Buffer
}

func (c *recorder) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *recorder) Write(p []byte) (int, error) { return c.w.Write(p) }

// The fixed keys and expected bytes of the published client's own
// handshake test (niomon/secretd-client-go session_test.go
// TestClientHandshake @1de04ac).
const (
	publishedServerPriv = "a4841649e94d627f7055affcb39c4ec000b1c2cc2aaa7e583c476f30eadb3d36"
	publishedServerPub  = "1c0636267d4e931cf4c8254faf61d5e54341a6f91366488d299f92792213b504"
	publishedClientPriv = "0bf8b4563510b9c3e1c7a62b41fbc9e568c34e6d7e880bf7e9d0980f8aa31256"
	publishedClientPub  = "441e5e44179cea4b1c33fb5d6899659b79bd4d3997888f9f9899eb6d2dc5de26"
	publishedPrefix     = "0015536563726574445f48616e647368616b655f315f30"
)

func TestHandshakeMatchesPublishedClientVector(t *testing.T) {
	server := keyFromHex(t, publishedServerPriv)
	client := keyFromHex(t, publishedClientPriv)
	if got := hex.EncodeToString(server.Public().Bytes()); got != publishedServerPub {
		t.Fatalf("server public key: got %s, want %s", got, publishedServerPub)
	}
	if got := hex.EncodeToString(client.Public().Bytes()); got != publishedClientPub {
		t.Fatalf("client public key: got %s, want %s", got, publishedClientPub)
	}

	// The published test uses auth method "null"; with it message 1 is
	// exactly 112 bytes.
	before := uint64(time.Now().UnixNano())
	conn := &recorder{r: bytes.NewReader(nil)}
	_, err := wireclient.Client(conn, server.Public(), client, wire.ClientHello{Timestamp: before, AuthMethod: "null"})
	if err == nil {
		t.Fatal("client handshake against an empty reply: got nil error, want an error")
	}
	sent := conn.w.Bytes()
	if got := hex.EncodeToString(sent[:23]); got != publishedPrefix {
		t.Fatalf("first 23 bytes: got %s, want %s", got, publishedPrefix)
	}
	if got := hex.EncodeToString(sent[23:25]); got != "0070" {
		t.Fatalf("message 1 length: got %s, want 0070", got)
	}

	// Message 1 decrypts on our server side.
	var gotPeer wire.Peer
	srvConn := &recorder{r: bytes.NewReader(sent)}
	_, peer, err := wire.Server(srvConn, server, func(p wire.PublicKey, h wire.ClientHello) error { gotPeer = wire.Peer{Key: p, Hello: h}; return nil })
	if err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if !peer.Key.Equal(client.Public()) || !gotPeer.Key.Equal(client.Public()) {
		t.Fatalf("server saw peer %s, want %s", peer.Key, client.Public())
	}
	if peer.Hello.AuthMethod != "null" || !bytes.Equal(peer.Hello.AuthParams, []byte{0xf6}) || peer.Hello.Timestamp != before {
		t.Fatalf("client hello: got %+v, want null auth with timestamp %d", peer.Hello, before)
	}
	// The reply is an empty negotiation frame then message 2 (48 bytes:
	// ephemeral key + empty payload tag).
	if got := hex.EncodeToString(srvConn.w.Bytes()[:4]); got != "00000030" {
		t.Fatalf("server reply header: got %s, want 00000030", got)
	}
}

func TestHandshakeDecodesPublishedPlaintextLayout(t *testing.T) {
	// Same check the published test makes on the decrypted message 1: an
	// array of 3, then (after the 9-byte timestamp) "null" and null.
	server := keyFromHex(t, publishedServerPriv)
	client := keyFromHex(t, publishedClientPriv)
	conn := &recorder{r: bytes.NewReader(nil)}
	_, _ = wireclient.Client(conn, server.Public(), client, wire.ClientHello{Timestamp: uint64(time.Now().UnixNano()), AuthMethod: "null"})
	hs, err := noise.NewHandshakeState(wire.NoiseConfig(false, server, nil))
	if err != nil {
		t.Fatal(err)
	}
	out, _, _, err := hs.ReadMessage(nil, conn.w.Bytes()[25:])
	if err != nil {
		t.Fatalf("reading message 1: %v", err)
	}
	if out[0] != 0x83 || hex.EncodeToString(out[10:]) != "646e756c6cf6" {
		t.Fatalf("message 1 payload: got %x, want 83 <ts> 646e756c6cf6", out)
	}
}

func TestServerRefusesWithReason(t *testing.T) {
	server, _ := wire.GeneratePrivateKey()
	client, _ := wire.GeneratePrivateKey()
	other, _ := wire.GeneratePrivateKey()
	allow := func(wire.PublicKey, wire.ClientHello) error { return nil }
	deny := func(wire.PublicKey, wire.ClientHello) error { return errors.New("no") }
	tests := []struct {
		name       string
		serverKey  wire.PublicKey // key the client believes the server has
		authorize  wire.Authorizer
		hello      wire.ClientHello
		corrupt    func([]byte) []byte // applied to the client's bytes
		wantReason string
	}{
		{name: "unknown client key is refused", serverKey: server.Public(), authorize: deny, hello: wire.ClientHello{AuthMethod: wire.AuthStaticKey}, wantReason: wire.RefuseAuth},
		{name: "wrong server identity fails the handshake", serverKey: other.Public(), authorize: allow, hello: wire.ClientHello{AuthMethod: wire.AuthStaticKey}, wantReason: wire.RefuseHandshake + ": the identity here is " + server.Public().String()},
		{name: "empty auth method is a malformed hello", serverKey: server.Public(), authorize: allow, hello: wire.ClientHello{}, wantReason: wire.RefuseHello},
		{name: "another magic is an unsupported protocol", serverKey: server.Public(), authorize: allow, hello: wire.ClientHello{AuthMethod: wire.AuthStaticKey},
			corrupt: func(b []byte) []byte { b[3] ^= 1; return b }, wantReason: wire.RefuseProtocol},
		{name: "a flipped bit in message 1 fails the handshake", serverKey: server.Public(), authorize: allow, hello: wire.ClientHello{AuthMethod: wire.AuthStaticKey},
			corrupt: func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, wantReason: wire.RefuseHandshake + ": the identity here is " + server.Public().String()},
		{name: "a custom refusal reason is passed on", serverKey: server.Public(), authorize: func(wire.PublicKey, wire.ClientHello) error { return &wire.Refusal{Reason: wire.RefuseBusy} },
			hello: wire.ClientHello{AuthMethod: wire.AuthStaticKey}, wantReason: wire.RefuseBusy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cconn := &recorder{r: bytes.NewReader(nil)}
			_, _ = wireclient.Client(cconn, tc.serverKey, client, tc.hello)
			b := cconn.w.Bytes()
			if tc.corrupt != nil {
				b = tc.corrupt(b)
			}
			sconn := &recorder{r: bytes.NewReader(b)}
			_, _, err := wire.Server(sconn, server, tc.authorize)
			var r *wire.Refusal
			if !errors.As(err, &r) || r.Reason != tc.wantReason {
				t.Fatalf("server: got %v, want refusal %q", err, tc.wantReason)
			}
			// The client sees the same reason.
			_, err = wireclient.Client(&recorder{r: bytes.NewReader(sconn.w.Bytes())}, tc.serverKey, client, wire.ClientHello{AuthMethod: wire.AuthStaticKey})
			if !errors.As(err, &r) || r.Reason != tc.wantReason {
				t.Fatalf("client: got %v, want refusal %q", err, tc.wantReason)
			}
		})
	}
}

func TestSplitRefusalFindsOnlyAWellFormedAnnouncedIdentity(t *testing.T) {
	id, _ := wire.GeneratePrivateKey()
	pub := id.Public().String()
	tests := []struct {
		name, reason, phrase, identity string
	}{
		{"a handshake refusal with the identity", wire.RefuseHandshake + ": the identity here is " + pub, wire.RefuseHandshake, pub},
		{"the bare phrase (an older enclave)", wire.RefuseHandshake, wire.RefuseHandshake, ""},
		{"another refusal", wire.RefuseAuth, wire.RefuseAuth, ""},
		{"a malformed identity", wire.RefuseHandshake + ": the identity here is not-a-key", wire.RefuseHandshake + ": the identity here is not-a-key", ""},
		{"an identity with more after it", wire.RefuseHandshake + ": the identity here is " + pub + " x", wire.RefuseHandshake + ": the identity here is " + pub + " x", ""},
		{"the identity after another phrase", wire.RefuseAuth + ": the identity here is " + pub, wire.RefuseAuth + ": the identity here is " + pub, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			phrase, identity := wire.SplitRefusal(tc.reason)
			if phrase != tc.phrase || identity != tc.identity {
				t.Fatalf("SplitRefusal(%q): got %q, %q; want %q, %q", tc.reason, phrase, identity, tc.phrase, tc.identity)
			}
		})
	}
}

func TestSessionCarriesMessagesBothWays(t *testing.T) {
	server, _ := wire.GeneratePrivateKey()
	client, _ := wire.GeneratePrivateKey()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	type result struct {
		s   *wire.Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, _, err := wire.Server(b, server, func(wire.PublicKey, wire.ClientHello) error { return nil })
		done <- result{s, err}
	}()
	cs, err := wireclient.Client(a, server.Public(), client, wire.ClientHello{Timestamp: 1, AuthMethod: wire.AuthStaticKey, AuthParams: cbor.RawMessage{0xf6}})
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	tests := []struct {
		name string
		size int
	}{
		{"one byte", 1},
		{"exactly one frame", wire.MaxPlaintext},
		{"spans three frames", 2*wire.MaxPlaintext + 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := bytes.Repeat([]byte{0xa5}, tc.size)
			go func() { _, _ = cs.Write(msg) }()
			var got []byte
			for len(got) < len(msg) {
				c, err := r.s.ReadChunk()
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, c...)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("got %d bytes, want %d identical bytes", len(got), len(msg))
			}
		})
	}
}
