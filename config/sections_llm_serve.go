package config

import (
	"crypto/tls"
	"crypto/x509"
)

// llmTLSSpec is the schema's LocalTLSServerConfig as the `llm:` short form's tls (the part that is
// built: a static certificate, optional client CA, TLS versions).
type llmTLSSpec struct {
	Mode              string   `json:"mode"`
	Cert              string   `json:"cert"`
	Key               string   `json:"key"`
	Root              string   `json:"root"`
	Spiffe            Node     `json:"spiffe"`
	CipherSuites      []string `json:"cipherSuites"`
	MinTLSVersion     string   `json:"minTLSVersion"`
	MinTLSVersionAlt  string   `json:"minTlsVersion"`
	MaxTLSVersion     string   `json:"maxTLSVersion"`
	MaxTLSVersionAlt  string   `json:"maxTlsVersion"`
	KeyExchangeGroups []string `json:"keyExchangeGroups"`
}

// llmServerTLS builds the server TLS of the llm port.
func llmServerTLS(bc *BuildContext, n Node) (*tls.Config, error) {
	s, err := Decode[llmTLSSpec](n)
	if err != nil {
		return nil, err
	}
	bc = bc.At("tls")
	switch {
	case s.Mode != "" && s.Mode != "static":
		return nil, bc.Errorf("mode", "only static is supported")
	case !s.Spiffe.IsZero():
		return nil, bc.Errorf("spiffe", "not supported yet")
	case len(s.CipherSuites) > 0:
		return nil, bc.Errorf("cipherSuites", "not supported yet")
	case len(s.KeyExchangeGroups) > 0:
		return nil, bc.Errorf("keyExchangeGroups", "not supported yet")
	case s.Cert == "" || s.Key == "":
		return nil, bc.Errorf("cert", "cert and key are required")
	}
	certPEM, err := bc.ReadFile("cert", s.Cert)
	if err != nil {
		return nil, err
	}
	keyPEM, err := bc.ReadFile("key", s.Key)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, bc.Errorf("", "loading certificate %s and key %s: %v", s.Cert, s.Key, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if s.Root != "" {
		pem, err := bc.ReadFile("root", s.Root)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, bc.Errorf("root", "%s holds no PEM certificates", s.Root)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	versions := map[string]uint16{"TLS_V1_2": tls.VersionTLS12, "TLS_V1_3": tls.VersionTLS13}
	for _, v := range []struct {
		field, value string
		dst          *uint16
	}{{"minTLSVersion", s.MinTLSVersion + s.MinTLSVersionAlt, &tc.MinVersion}, {"maxTLSVersion", s.MaxTLSVersion + s.MaxTLSVersionAlt, &tc.MaxVersion}} {
		if v.value == "" {
			continue
		}
		ver, ok := versions[v.value]
		if !ok {
			return nil, bc.Errorf(v.field, "want TLS_V1_2 or TLS_V1_3, got %q", v.value)
		}
		*v.dst = ver
	}
	return tc, nil
}
