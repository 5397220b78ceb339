package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/flynn/noise"
	"github.com/fxamacker/cbor/v2"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func keyFromHex(t testing.TB, s string) PrivateKey {
	t.Helper()
	var scalar [32]byte
	copy(scalar[:], mustHex(t, s))
	k, err := NewPrivateKey(&scalar)
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
	_, err := Client(conn, server.Public(), client, ClientHello{Timestamp: before, AuthMethod: "null"})
	if err == nil {
		t.Fatal("client handshake against an empty reply: got nil error, want an error")
	}
	wire := conn.w.Bytes()
	if got := hex.EncodeToString(wire[:23]); got != publishedPrefix {
		t.Fatalf("first 23 bytes: got %s, want %s", got, publishedPrefix)
	}
	if got := hex.EncodeToString(wire[23:25]); got != "0070" {
		t.Fatalf("message 1 length: got %s, want 0070", got)
	}

	// Message 1 decrypts on our server side.
	var gotPeer Peer
	srvConn := &recorder{r: bytes.NewReader(wire)}
	_, peer, err := Server(srvConn, server, func(p PublicKey, h ClientHello) error { gotPeer = Peer{p, h}; return nil })
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
	_, _ = Client(conn, server.Public(), client, ClientHello{Timestamp: uint64(time.Now().UnixNano()), AuthMethod: "null"})
	hs, err := noise.NewHandshakeState(handshakeConfig(false, server, nil, Prologue(Magic), make([]byte, 32)))
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

type cacophonyFile struct {
	Vectors []struct {
		Name          string   `json:"protocol_name"`
		InitPrologue  string   `json:"init_prologue"`
		InitPSKs      []string `json:"init_psks"`
		InitStatic    string   `json:"init_static"`
		InitEphemeral string   `json:"init_ephemeral"`
		InitRemote    string   `json:"init_remote_static"`
		RespPrologue  string   `json:"resp_prologue"`
		RespPSKs      []string `json:"resp_psks"`
		RespStatic    string   `json:"resp_static"`
		RespEphemeral string   `json:"resp_ephemeral"`
		HandshakeHash string   `json:"handshake_hash"`
		Messages      []struct {
			Payload    string `json:"payload"`
			Ciphertext string `json:"ciphertext"`
		} `json:"messages"`
	} `json:"vectors"`
}

func TestHandshakeConfigPassesCacophonyVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/cacophony_ik.json")
	if err != nil {
		t.Fatal(err)
	}
	var f cacophonyFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"Noise_IK_25519_AESGCM_SHA256": true, "Noise_IKpsk2_25519_AESGCM_SHA256": true}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			delete(want, v.Name)
			var ipsk, rpsk []byte
			if len(v.InitPSKs) > 0 {
				ipsk, rpsk = mustHex(t, v.InitPSKs[0]), mustHex(t, v.RespPSKs[0])
			}
			var remote PublicKey
			copy(remote[:], mustHex(t, v.InitRemote))
			ic := handshakeConfig(true, keyFromHex(t, v.InitStatic), &remote, mustHex(t, v.InitPrologue), ipsk)
			ic.Random = bytes.NewReader(mustHex(t, v.InitEphemeral))
			rc := handshakeConfig(false, keyFromHex(t, v.RespStatic), nil, mustHex(t, v.RespPrologue), rpsk)
			rc.Random = bytes.NewReader(mustHex(t, v.RespEphemeral))
			if got := string(ic.CipherSuite.Name()); "Noise_IK"+map[bool]string{true: "psk2", false: ""}[ipsk != nil]+"_"+got != v.Name {
				t.Fatalf("suite name: got %s, want it to complete %s", got, v.Name)
			}
			ihs, err := noise.NewHandshakeState(ic)
			if err != nil {
				t.Fatal(err)
			}
			rhs, err := noise.NewHandshakeState(rc)
			if err != nil {
				t.Fatal(err)
			}
			m0, m1 := v.Messages[0], v.Messages[1]
			c0, _, _, err := ihs.WriteMessage(nil, mustHex(t, m0.Payload))
			if err != nil || hex.EncodeToString(c0) != m0.Ciphertext {
				t.Fatalf("message 0: got %x (%v), want %s", c0, err, m0.Ciphertext)
			}
			if p, _, _, err := rhs.ReadMessage(nil, c0); err != nil || hex.EncodeToString(p) != m0.Payload {
				t.Fatalf("message 0 read: got %x (%v), want %s", p, err, m0.Payload)
			}
			c1, rRecv, rSend, err := rhs.WriteMessage(nil, mustHex(t, m1.Payload))
			if err != nil || hex.EncodeToString(c1) != m1.Ciphertext {
				t.Fatalf("message 1: got %x (%v), want %s", c1, err, m1.Ciphertext)
			}
			p1, iSend, iRecv, err := ihs.ReadMessage(nil, c1)
			if err != nil || hex.EncodeToString(p1) != m1.Payload {
				t.Fatalf("message 1 read: got %x (%v), want %s", p1, err, m1.Payload)
			}
			if got := hex.EncodeToString(ihs.ChannelBinding()); got != v.HandshakeHash {
				t.Fatalf("handshake hash: got %s, want %s", got, v.HandshakeHash)
			}
			for i, m := range v.Messages[2:] {
				send, recv := iSend, rRecv
				if i%2 == 1 {
					send, recv = rSend, iRecv
				}
				c, err := send.Encrypt(nil, nil, mustHex(t, m.Payload))
				if err != nil || hex.EncodeToString(c) != m.Ciphertext {
					t.Fatalf("transport %d: got %x (%v), want %s", i, c, err, m.Ciphertext)
				}
				if p, err := recv.Decrypt(nil, nil, c); err != nil || hex.EncodeToString(p) != m.Payload {
					t.Fatalf("transport %d read: got %x (%v), want %s", i, p, err, m.Payload)
				}
			}
		})
	}
	if len(want) != 0 {
		t.Fatalf("vectors missing from testdata: %v", want)
	}
}

// flynnConfig is the published client's configuration, built on flynn's
// own DH25519: the reference our DH must interoperate with.
func flynnConfig(initiator bool, static PrivateKey, peer *PublicKey) noise.Config {
	c := noise.Config{
		CipherSuite:           noise.NewCipherSuite(noise.DH25519, noise.CipherAESGCM, noise.HashSHA256),
		Pattern:               noise.HandshakeIK,
		Initiator:             initiator,
		Prologue:              Prologue(Magic),
		PresharedKey:          make([]byte, 32),
		PresharedKeyPlacement: 2,
		StaticKeypair:         noise.DHKey{Private: static.k.Bytes(), Public: static.k.PublicKey().Bytes()},
	}
	if peer != nil {
		c.PeerStatic = peer[:]
	}
	return c
}

func TestHandshakeInteroperatesWithFlynnDH(t *testing.T) {
	server, _ := GeneratePrivateKey()
	client, _ := GeneratePrivateKey()
	spub := server.Public()
	tests := []struct {
		name    string
		ours    bool // true: our client against flynn's responder; false: flynn's initiator against ours
		payload []byte
	}{
		{name: "our initiator, flynn responder", ours: true, payload: []byte("hello")},
		{name: "flynn initiator, our responder", ours: false, payload: []byte("hello")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ic, rc := flynnConfig(true, client, &spub), config(false, server, nil)
			if tc.ours {
				ic, rc = config(true, client, &spub), flynnConfig(false, server, nil)
			}
			ihs, _ := noise.NewHandshakeState(ic)
			rhs, _ := noise.NewHandshakeState(rc)
			m1, _, _, err := ihs.WriteMessage(nil, tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			got, _, _, err := rhs.ReadMessage(nil, m1)
			if err != nil || !bytes.Equal(got, tc.payload) {
				t.Fatalf("responder read: got %q (%v), want %q", got, err, tc.payload)
			}
			m2, _, rs, err := rhs.WriteMessage(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, ir, err := ihs.ReadMessage(nil, m2); err != nil {
				t.Fatalf("initiator read message 2: %v", err)
			} else {
				c, _ := rs.Encrypt(nil, nil, []byte("transport"))
				if p, err := ir.Decrypt(nil, nil, c); err != nil || string(p) != "transport" {
					t.Fatalf("transport: got %q (%v), want %q", p, err, "transport")
				}
			}
		})
	}
}

func TestServerRefusesWithReason(t *testing.T) {
	server, _ := GeneratePrivateKey()
	client, _ := GeneratePrivateKey()
	other, _ := GeneratePrivateKey()
	allow := func(PublicKey, ClientHello) error { return nil }
	deny := func(PublicKey, ClientHello) error { return errors.New("no") }
	tests := []struct {
		name       string
		serverKey  PublicKey // key the client believes the server has
		authorize  Authorizer
		hello      ClientHello
		corrupt    func([]byte) []byte // applied to the client's bytes
		wantReason string
	}{
		{name: "unknown client key is refused", serverKey: server.Public(), authorize: deny, hello: ClientHello{AuthMethod: AuthStaticKey}, wantReason: RefuseAuth},
		{name: "wrong server identity fails the handshake", serverKey: other.Public(), authorize: allow, hello: ClientHello{AuthMethod: AuthStaticKey}, wantReason: RefuseHandshake},
		{name: "empty auth method is a malformed hello", serverKey: server.Public(), authorize: allow, hello: ClientHello{}, wantReason: RefuseHello},
		{name: "another magic is an unsupported protocol", serverKey: server.Public(), authorize: allow, hello: ClientHello{AuthMethod: AuthStaticKey},
			corrupt: func(b []byte) []byte { b[3] ^= 1; return b }, wantReason: RefuseProtocol},
		{name: "a flipped bit in message 1 fails the handshake", serverKey: server.Public(), authorize: allow, hello: ClientHello{AuthMethod: AuthStaticKey},
			corrupt: func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, wantReason: RefuseHandshake},
		{name: "a custom refusal reason is passed on", serverKey: server.Public(), authorize: func(PublicKey, ClientHello) error { return &Refusal{Reason: RefuseBusy} },
			hello: ClientHello{AuthMethod: AuthStaticKey}, wantReason: RefuseBusy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cconn := &recorder{r: bytes.NewReader(nil)}
			_, _ = Client(cconn, tc.serverKey, client, tc.hello)
			b := cconn.w.Bytes()
			if tc.corrupt != nil {
				b = tc.corrupt(b)
			}
			sconn := &recorder{r: bytes.NewReader(b)}
			_, _, err := Server(sconn, server, tc.authorize)
			var r *Refusal
			if !errors.As(err, &r) || r.Reason != tc.wantReason {
				t.Fatalf("server: got %v, want refusal %q", err, tc.wantReason)
			}
			// The client sees the same reason.
			_, err = Client(&recorder{r: bytes.NewReader(sconn.w.Bytes())}, tc.serverKey, client, ClientHello{AuthMethod: AuthStaticKey})
			if !errors.As(err, &r) || r.Reason != tc.wantReason {
				t.Fatalf("client: got %v, want refusal %q", err, tc.wantReason)
			}
		})
	}
}

func TestSessionCarriesMessagesBothWays(t *testing.T) {
	server, _ := GeneratePrivateKey()
	client, _ := GeneratePrivateKey()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	type result struct {
		s   *Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, _, err := Server(b, server, func(PublicKey, ClientHello) error { return nil })
		done <- result{s, err}
	}()
	cs, err := Client(a, server.Public(), client, ClientHello{Timestamp: 1, AuthMethod: AuthStaticKey, AuthParams: cbor.RawMessage{0xf6}})
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
		{"exactly one frame", MaxPlaintext},
		{"spans three frames", 2*MaxPlaintext + 7},
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
