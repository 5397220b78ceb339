package niomoncmd

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/chain/eth"
	"github.com/niomon/niomon/internal/chain/sol"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
)

// Default derivation paths of the sign commands.
const (
	pathEth     = "m/44'/60'/0'/0/0"
	pathTaproot = "m/86'/0'/0'/0/0"
	pathSegwit  = "m/84'/0'/0'/0/0"
	pathSolana  = "m/44'/501'/0'/0'"
	pathBLS     = "m/12381/3600/0/0/0"
	maxInput    = 1 << 20
)

// signOutput is what a sign command prints with --json.
type signOutput struct {
	Scheme    string `json:"scheme"`
	Path      string `json:"path"`
	Signature string `json:"signature"`  // hex
	PublicKey string `json:"public_key"` // hex
	// Address is the account that signed, for the schemes of a chain
	// whose address is its public key's (Ethereum, Solana).
	Address string `json:"address,omitempty"`
	Digest  string `json:"digest,omitempty"`
	RawTx   string `json:"raw_tx,omitempty"`
	TxHash  string `json:"tx_hash,omitempty"`
}

func (c *cli) sign(ctx context.Context, what string, args []string) error {
	var (
		path, scheme, merkle, file string
		isHex, taproot             bool
	)
	rest, err := c.sub("sign "+what, args, func(fs *flag.FlagSet) {
		fs.StringVar(&path, "path", "", "derivation path (default: the chain's first account)")
		switch what {
		case "digest":
			fs.StringVar(&scheme, "scheme", api.SchemeSecp256k1, "secp256k1, btc_ecdsa or p256")
		case "bip340":
			fs.StringVar(&merkle, "merkle-root", "", "taproot script tree root (hex), with --taproot")
			fs.BoolVar(&taproot, "taproot", false, "sign a key-path spend of the BIP86 output (BIP341 tweak)")
		case "ed25519", "bls":
			fs.BoolVar(&isHex, "hex", false, "the message is hex")
		}
		switch what {
		case "message", "ed25519", "bls":
			fs.StringVar(&file, "file", "", "read the message from this file (- for standard input) instead of the argument")
		}
	})
	if err != nil {
		return err
	}
	var arg string
	switch {
	case file == "-" && len(rest) == 0:
		b, err := io.ReadAll(io.LimitReader(c.stdin, maxInput+1))
		if err != nil {
			return err
		}
		if len(b) > maxInput {
			return fmt.Errorf("standard input: larger than %d bytes", maxInput)
		}
		arg = string(b)
	case file != "" && len(rest) == 0:
		b, err := readFile(file)
		if err != nil {
			return err
		}
		arg = string(b)
	case file != "":
		return usagef("sign %s takes the message from --file or as one argument, not both", what)
	case len(rest) != 1:
		return usagef("sign %s takes one argument (run niomon client help)", what)
	default:
		arg = rest[0]
	}
	p := policy.SignParams{Path: path}
	def := func(d string) {
		if p.Path == "" {
			p.Path = d
		}
	}
	switch what {
	case "digest":
		p.Scheme = scheme
		switch scheme {
		case api.SchemeSecp256k1:
			def(pathEth)
		case api.SchemeBTCECDSA:
			def(pathSegwit)
		case api.SchemeP256:
			if p.Path == "" {
				return usagef("sign digest --scheme p256 needs --path")
			}
		default:
			return usagef("--scheme: want secp256k1, btc_ecdsa or p256")
		}
		if p.Digest, err = hexArg("the digest", arg, 32); err != nil {
			return err
		}
	case "message":
		p.Scheme, p.Message = api.SchemeEthPersonal, []byte(arg)
		def(pathEth)
	case "typed-data":
		b, err := readFile(arg)
		if err != nil {
			return err
		}
		if !json.Valid(b) {
			return fmt.Errorf("%s: not JSON", arg)
		}
		p.Scheme, p.TypedData = api.SchemeEthTypedData, string(b)
		def(pathEth)
	case "eth-tx":
		b, err := readFile(arg)
		if err != nil {
			return err
		}
		tx, err := parseEthTx(b)
		if err != nil {
			return fmt.Errorf("%s: %w", arg, err)
		}
		if p.Tx, err = wire.Marshal(tx); err != nil {
			return err
		}
		p.Scheme = api.SchemeEthTx
		def(pathEth)
	case "bip340":
		p.Scheme = api.SchemeBTCSchnorr
		if taproot {
			p.Scheme = api.SchemeBTCTaproot
		}
		def(pathTaproot)
		if p.Digest, err = hexArg("the digest", arg, 32); err != nil {
			return err
		}
		if merkle != "" {
			if !taproot {
				return usagef("--merkle-root goes with --taproot")
			}
			if p.MerkleRoot, err = hexArg("--merkle-root", merkle, 32); err != nil {
				return err
			}
		}
	case "ed25519", "bls":
		p.Scheme = api.SchemeEd25519
		if what == "bls" {
			p.Scheme = api.SchemeBLS
			def(pathBLS)
		}
		def(pathSolana)
		p.Message = []byte(arg)
		if isHex {
			if p.Message, err = hexArg("the message (--hex)", strings.TrimSpace(arg), -1); err != nil {
				return err
			}
		}
	default:
		return usagef("unknown sign command %q (run niomon client help)", what)
	}
	var out nioapi.SignResult
	if _, err := c.stamped(ctx, "/v1/wallet/sign", policy.MethodSign, p, &out); err != nil {
		return err
	}
	if _, kf, err := loadKey(c.keyPath); err == nil && kf.Instance != nil && !bytes.Equal(kf.Instance, out.Instance) {
		return fmt.Errorf("WARNING: the signature was made by another wallet at your wallet's id than the one your key was enrolled in; do not use it")
	}
	so := signOutput{Scheme: p.Scheme, Path: p.Path, Signature: hex.EncodeToString(out.Signature), PublicKey: hex.EncodeToString(out.PublicKey),
		Address: signerAddress(p.Scheme, out.PublicKey)}
	if out.Digest != nil {
		so.Digest = hex.EncodeToString(out.Digest)
	}
	if out.RawTx != nil {
		so.RawTx, so.TxHash = hex0x(out.RawTx), hex0x(out.TxHash)
	}
	return c.print(so, func(w io.Writer) {
		if so.RawTx != "" {
			fmt.Fprintf(w, "raw transaction: %s\ntransaction hash: %s\n", so.RawTx, so.TxHash)
			return
		}
		sig := so.Signature
		if strings.HasPrefix(p.Scheme, "eth") {
			sig = "0x" + sig
		}
		if so.Address != "" {
			fmt.Fprintf(w, "address: %s\n", so.Address)
		}
		fmt.Fprintf(w, "signature: %s\npublic key: %s\n", sig, so.PublicKey)
	})
}

// hexArg decodes argument name, hex (with or without 0x), of n bytes when
// n >= 0.
func hexArg(name, s string, n int) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil {
		return nil, fmt.Errorf("%s: want hex", name)
	}
	if n >= 0 && len(b) != n {
		return nil, fmt.Errorf("%s: want %d bytes of hex, got %d", name, n, len(b))
	}
	return b, nil
}

// signerAddress is the address of the account whose public key pub
// signed under scheme, for Ethereum's and Solana's schemes; "" otherwise.
func signerAddress(scheme string, pub []byte) string {
	switch scheme {
	case api.SchemeEthPersonal, api.SchemeEthTypedData, api.SchemeEthTx:
		if k, err := secp256k1.ParsePubKey(pub); err == nil {
			return eth.AddressFromPublicKey(k).String()
		}
	case api.SchemeEd25519:
		if a, err := sol.AddressFromPublicKey(pub); err == nil {
			return a.String()
		}
	}
	return ""
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxInput+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxInput {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxInput)
	}
	return b, nil
}

// ethTxJSON is a transaction in the JSON-RPC form (eth_signTransaction).
type ethTxJSON struct {
	Type                 *hexUint64 `json:"type"`
	ChainID              *hexBig    `json:"chainId"`
	Nonce                *hexUint64 `json:"nonce"`
	GasPrice             *hexBig    `json:"gasPrice"`
	MaxPriorityFeePerGas *hexBig    `json:"maxPriorityFeePerGas"`
	MaxFeePerGas         *hexBig    `json:"maxFeePerGas"`
	Gas                  *hexUint64 `json:"gas"`
	To                   *hexBytes  `json:"to"`
	Value                *hexBig    `json:"value"`
	Data                 *hexBytes  `json:"data"`
	Input                *hexBytes  `json:"input"`
	AccessList           []struct {
		Address     hexBytes   `json:"address"`
		StorageKeys []hexBytes `json:"storageKeys"`
	} `json:"accessList"`
}

// parseEthTx reads the JSON-RPC form into the enclave's Tx. Absent fee
// fields stay absent, so the enclave's checks name what is missing.
func parseEthTx(b []byte) (*eth.Tx, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var j ethTxJSON
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("not a transaction: %v", err)
	}
	q := func(x *hexBig) (eth.Quantity, error) {
		if x == nil {
			return nil, nil
		}
		return eth.QuantityFromBig((*big.Int)(x))
	}
	tx := &eth.Tx{Type: eth.DynamicFeeTxType}
	if j.Type != nil {
		tx.Type = uint8(*j.Type)
	}
	var err error
	if tx.ChainID, err = q(j.ChainID); err != nil {
		return nil, err
	}
	if tx.GasPrice, err = q(j.GasPrice); err != nil {
		return nil, err
	}
	if tx.MaxPriorityFeePerGas, err = q(j.MaxPriorityFeePerGas); err != nil {
		return nil, err
	}
	if tx.MaxFeePerGas, err = q(j.MaxFeePerGas); err != nil {
		return nil, err
	}
	if tx.Value, err = q(j.Value); err != nil {
		return nil, err
	}
	if tx.Value == nil {
		tx.Value = eth.Quantity{}
	}
	if j.Nonce != nil {
		tx.Nonce = uint64(*j.Nonce)
	}
	if j.Gas != nil {
		tx.Gas = uint64(*j.Gas)
	}
	if j.To != nil {
		tx.To = *j.To
	}
	switch {
	case j.Data != nil:
		tx.Data = *j.Data
	case j.Input != nil:
		tx.Data = *j.Input
	}
	for _, a := range j.AccessList {
		t := eth.AccessTuple{Address: a.Address}
		for _, k := range a.StorageKeys {
			t.StorageKeys = append(t.StorageKeys, k)
		}
		tx.AccessList = append(tx.AccessList, t)
	}
	if err := tx.Validate(); err != nil {
		return nil, err
	}
	return tx, nil
}
