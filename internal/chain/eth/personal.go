package eth

import "strconv"

// PersonalMessageHash returns the EIP-191 version 0x45 ("personal_sign")
// digest of msg (https://eips.ethereum.org/EIPS/eip-191):
//
//	keccak256("\x19Ethereum Signed Message:\n" ‖ decimal(len(msg)) ‖ msg)
//
// The length is the byte length of msg, written in ASCII decimal without
// leading zeros, exactly as geth, MetaMask and ethers do.
func PersonalMessageHash(msg []byte) [32]byte {
	const prefix = "\x19Ethereum Signed Message:\n"
	var head [len(prefix) + 20]byte
	n := copy(head[:], prefix)
	h := strconv.AppendInt(head[:n], int64(len(msg)), 10)
	return keccak256(h, msg)
}
