package config

import (
	"net/http"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
)

// exposeOnPreflight makes a cors policy list exposeHeaders on allowed preflight answers too: the
// schema returns them on "allowed CORS responses", Gateway API's CORS filter requires them there,
// and a Kubernetes translation compiled from the document must answer as the translation does.
func exposeOnPreflight(p agentgateway.Policy, err error, expose []string) (agentgateway.Policy, error) {
	if err != nil || len(expose) == 0 {
		return p, err
	}
	value := strings.Join(expose, ", ")
	return agentgateway.NewPolicy(agentgateway.PhaseOf(p), func(next http.Handler) http.Handler {
		inner := p.Wrap(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
				w = &preflightWriter{ResponseWriter: w, expose: value}
			}
			inner.ServeHTTP(w, r)
		})
	}), nil
}

// preflightWriter adds Access-Control-Expose-Headers to a preflight answer the policy allowed (one
// that carries Access-Control-Allow-Origin).
type preflightWriter struct {
	http.ResponseWriter
	expose string
	wrote  bool
}

func (p *preflightWriter) WriteHeader(code int) {
	if !p.wrote {
		p.wrote = true
		if h := p.Header(); h.Get("Access-Control-Allow-Origin") != "" && h.Get("Access-Control-Expose-Headers") == "" {
			h.Set("Access-Control-Expose-Headers", p.expose)
		}
	}
	p.ResponseWriter.WriteHeader(code)
}

func (p *preflightWriter) Write(b []byte) (int, error) {
	if !p.wrote {
		p.WriteHeader(http.StatusOK)
	}
	return p.ResponseWriter.Write(b)
}

func (p *preflightWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
