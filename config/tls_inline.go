package config

import "strings"

// inlinePEM reports whether a tls or backendTLS `cert`, `key` or `root` value is the PEM itself rather
// than a file name: a value holding a PEM header. A control plane that renders certificates from
// its own store (a Kubernetes Secret) sends them this way, since the data plane shares no files
// with it. No file name holds "-----BEGIN ".
func inlinePEM(v string) bool { return strings.Contains(v, "-----BEGIN ") }

// pemName is how errors name a cert, key or root value: the file, or "inline PEM" (never the key).
func pemName(v string) string {
	if inlinePEM(v) {
		return "(inline PEM)"
	}
	return v
}
