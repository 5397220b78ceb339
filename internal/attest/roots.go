package attest

import (
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
)

// nitroRootPEM is the AWS Nitro Enclaves root certificate "G1"
// (CN=aws.nitro-enclaves, OU=AWS, O=Amazon, C=US; valid 2019-10-28 to 2049-10-28).
//
// Source: evervault/attestation-doc-validation attestation-doc-validation/src/nitro.pem
// @084ba280db363cba543fc58ce0822df1e0e3fa08 (Apache-2.0), the same certificate AWS publishes
// in https://aws-nitro-enclaves.amazonaws.com/AWS_NitroEnclaves_Root-G1.zip (the zip's SHA-256
// is 8cf60e2b2efca96c6a9e71e851d00c1b6991cc09eadbe64a6a1d1b1eb9faff7c).
//
// SHA-256 fingerprint of the DER certificate, checked when the package loads:
// 641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b
//
//go:embed aws_nitro_root_g1.pem
var nitroRootPEM []byte

// NitroRootG1SHA256 is the SHA-256 fingerprint of the embedded root's DER encoding.
const NitroRootG1SHA256 = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"

var nitroRoot = mustNitroRoot()

// mustNitroRoot panics if the embedded file is not the certificate its fingerprint names:
// a corrupted or swapped trust anchor must stop the program, not weaken it.
func mustNitroRoot() *x509.Certificate {
	block, rest := pem.Decode(nitroRootPEM)
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		panic("attest: embedded AWS Nitro root is not one PEM certificate")
	}
	sum := sha256.Sum256(block.Bytes)
	if hex.EncodeToString(sum[:]) != NitroRootG1SHA256 {
		panic("attest: embedded AWS Nitro root has the wrong fingerprint")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		panic("attest: embedded AWS Nitro root does not parse: " + err.Error())
	}
	return c
}

// NitroRoots returns a new pool holding only the AWS Nitro root G1. Each call returns a
// fresh pool, so a caller adding to it cannot widen anyone else's trust.
func NitroRoots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(nitroRoot)
	return p
}
