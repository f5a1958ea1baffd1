package policy

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
)

// oidcKeyInfo separates the OIDC cookie key from every other key derived from the same material
// (config.session.key also seals MCP sessions; the client secret authenticates at the provider).
const oidcKeyInfo = "agentgateway oidc session cookie v1"

// deriveCookieKey derives the AES-256 key sealing a policy's cookies from material (the session key
// or the client secret). The policy's identity (issuer, client id) is bound into the derivation, so
// two policies sharing a secret cannot open each other's cookies, while every replica (or restart)
// configured alike derives the same key.
func deriveCookieKey(material []byte, issuer, clientID string) ([]byte, error) {
	// Length-prefixed so that no (issuer, clientID) pair encodes like another.
	info := []byte(oidcKeyInfo)
	info = binary.BigEndian.AppendUint32(info, uint32(len(issuer)))
	info = append(info, issuer...)
	info = binary.BigEndian.AppendUint32(info, uint32(len(clientID)))
	info = append(info, clientID...)
	return hkdf.Key(sha256.New, material, nil, string(info), 32)
}
