package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/flynn/noise"
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
			ic, rc := flynnConfig(true, client, &spub), NoiseConfig(false, server, nil)
			if tc.ours {
				ic, rc = NoiseConfig(true, client, &spub), flynnConfig(false, server, nil)
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
