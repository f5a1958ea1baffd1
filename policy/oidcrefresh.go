package policy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// ErrOIDCRefresh is wrapped by the errors of a session refresh that failed: the session is dropped
// and the user logs in again.
var ErrOIDCRefresh = errors.New("oidc session refresh failed")

const (
	// oidcRefreshEarly refreshes an access token this long before it expires, so that the backend is
	// not handed one that expires on the way.
	oidcRefreshEarly = 10 * time.Second
	// oidcRefreshReuse: requests still carrying a session's old cookie this long after it was
	// refreshed (sent before the browser stored the new one) get the same result instead of
	// refreshing again; providers that rotate refresh tokens refuse a second use of the old one.
	oidcRefreshReuse = 30 * time.Second
	// oidcRefreshTimeout bounds a refresh, which outlives the request that started it.
	oidcRefreshTimeout = 10 * time.Second
	// oidcMaxFlights bounds the remembered refreshes.
	oidcMaxFlights = 4096
	// oidcDefaultTokenLife is assumed for an access token whose response has no expires_in.
	oidcDefaultTokenLife = time.Hour
)

// oidcRefreshFlight is one refresh of a session, shared by the requests carrying that session.
type oidcRefreshFlight struct {
	done chan struct{}
	oidcRefreshResult
	at time.Time // when it finished
}

type oidcRefreshResult struct {
	s      *oidcSession
	cookie string
	ttl    time.Duration
	err    error
}

// needsRefresh reports whether s holds a refresh token and its access token has expired or is about to.
func (o *oidcAuth) needsRefresh(s *oidcSession) bool {
	return o.refreshTTL > 0 && s.RefreshToken != "" && o.now().Add(oidcRefreshEarly).Unix() >= s.TokenExp
}

// refresh renews the session sealed in cookie, once for all the requests that carry it.
func (o *oidcAuth) refresh(ctx context.Context, cookie string, s *oidcSession) oidcRefreshResult {
	key := sha256.Sum256([]byte(cookie))
	o.flightMu.Lock()
	f := o.flights[key]
	if f != nil && f.finished() && o.now().Sub(f.at) >= oidcRefreshReuse {
		f = nil
	}
	if f != nil {
		o.flightMu.Unlock()
		select {
		case <-f.done:
			return f.oidcRefreshResult
		case <-ctx.Done():
			return oidcRefreshResult{err: fmt.Errorf("%w: %w", ErrOIDCRefresh, ctx.Err())}
		}
	}
	if len(o.flights) >= oidcMaxFlights {
		for k, g := range o.flights {
			if g.finished() {
				delete(o.flights, k)
			}
		}
	}
	f = &oidcRefreshFlight{done: make(chan struct{})}
	o.flights[key] = f
	o.flightMu.Unlock()

	// The other requests of the session wait on this refresh: it must not end with this request.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), oidcRefreshTimeout)
	defer cancel()
	f.oidcRefreshResult = o.doRefresh(rctx, s)
	f.at = o.now()
	close(f.done)
	return f.oidcRefreshResult
}

func (f *oidcRefreshFlight) finished() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// doRefresh redeems s's refresh token (RFC 6749 §6) with the client authentication of the login and
// seals the renewed session. A new refresh token replaces the old one; an ID token in the response
// must be valid and name the same subject, and replaces the claims.
func (o *oidcAuth) doRefresh(ctx context.Context, s *oidcSession) oidcRefreshResult {
	fail := func(err error) oidcRefreshResult {
		return oidcRefreshResult{err: fmt.Errorf("%w: %w", ErrOIDCRefresh, err)}
	}
	p, err := o.provider(ctx)
	if err != nil {
		return fail(err)
	}
	// An expired token with only the refresh token set: the token source goes straight to the
	// refresh grant and keeps the old refresh token when the provider sends no new one.
	tok, err := p.oauth.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, o.client),
		&oauth2.Token{RefreshToken: s.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		return fail(err)
	}
	claims, idToken := s.Claims, s.IDToken
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		// OpenID Connect Core §12.2: same issuer, subject and audience as the login's; no nonce.
		c, err := p.verifier.verifySignature(ctx, raw)
		if err != nil {
			return fail(fmt.Errorf("invalid ID token: %w", err))
		}
		if c["sub"] != s.Claims["sub"] {
			return fail(fmt.Errorf("invalid ID token: %w: subject changed", ErrInvalidCredential))
		}
		if azp, ok := c["azp"]; ok && azp != o.clientID {
			return fail(fmt.Errorf("invalid ID token: %w: azp is not this client", ErrInvalidCredential))
		}
		claims, idToken = c, raw
	}
	ns, v, ttl, err := o.issueSession(claims, idToken, tok)
	if err != nil {
		return fail(err)
	}
	return oidcRefreshResult{s: ns, cookie: v, ttl: ttl}
}

// issueSession builds and seals the session of a token response. With refresh on and a refresh
// token, the session lasts RefreshSessionTTL and notes when the access token expires; otherwise it
// lasts SessionTTL, cut to the access token's life with PassAccessToken, so the backend is never
// handed an expired token. What does not fit in a cookie is left out, least needed first: the ID
// token (logout then goes without id_token_hint), then the refresh token.
func (o *oidcAuth) issueSession(claims map[string]any, idToken string, tok *oauth2.Token) (*oidcSession, string, time.Duration, error) {
	now := o.now()
	s := &oidcSession{Claims: claims, IDToken: idToken}
	if o.passToken {
		s.AccessToken = tok.AccessToken
	}
	refresh := o.refreshTTL > 0 && tok.RefreshToken != ""
	for {
		ttl := o.sessionTTL
		s.RefreshToken, s.TokenExp = "", 0
		if refresh {
			exp := tok.Expiry
			if exp.IsZero() {
				exp = now.Add(oidcDefaultTokenLife)
			}
			s.RefreshToken, s.TokenExp, ttl = tok.RefreshToken, exp.Unix(), o.refreshTTL
		} else if left := tok.Expiry.Sub(now); o.passToken && !tok.Expiry.IsZero() && left < ttl {
			ttl = max(left, time.Second)
		}
		s.Exp = now.Add(ttl).Unix()
		v, err := o.codec.seal(o.cookieName, s)
		switch {
		case err == nil:
			return s, v, ttl, nil
		case !errors.Is(err, ErrSessionCookie):
			return nil, "", 0, err
		case s.IDToken != "":
			s.IDToken = ""
		case refresh:
			slog.Warn("oidc: the refresh token does not fit in the session cookie; the session ends with its access token", "issuer", o.issuer)
			refresh = false
		default:
			return nil, "", 0, err
		}
	}
}

// oidcChallenge is the WWW-Authenticate of a 401 (RFC 6750 §3): the issuer as realm and the scopes a
// login requests (scopes hold no quote or backslash: NewOIDC refuses them).
func oidcChallenge(issuer string, scopes []string) string {
	realm := strings.NewReplacer(`"`, "", `\`, "").Replace(issuer)
	return `Bearer realm="` + realm + `", scope="` + strings.Join(scopes, " ") + `"`
}
