package policy

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// ErrMayAct is wrapped by the error of a token exchange refused because the subject token's may_act
// claim does not name the actor.
var ErrMayAct = errors.New("may_act does not authorize the actor")

// checkMayAct enforces RFC 8693 §4.4 before a delegation exchange: the subject token (a JWT) must
// carry a may_act claim, an object whose every claim (sub, iss, ...) the actor token (a JWT) has with
// the same value. The tokens' signatures are not checked here — the token endpoint verifies them;
// this only keeps the gateway from asking for a delegation the subject did not allow.
func checkMayAct(subject, actor string) error {
	sc, err := jwtClaims(subject)
	if err != nil {
		return fmt.Errorf("%w: subject token: %w", ErrMayAct, err)
	}
	may, ok := sc["may_act"].(map[string]any)
	if !ok || len(may) == 0 {
		return fmt.Errorf("%w: the subject token has no may_act claim", ErrMayAct)
	}
	ac, err := jwtClaims(actor)
	if err != nil {
		return fmt.Errorf("%w: actor token: %w", ErrMayAct, err)
	}
	for k, want := range may {
		if got, ok := ac[k]; !ok || !reflect.DeepEqual(got, want) {
			return fmt.Errorf("%w: claim %q differs", ErrMayAct, k)
		}
	}
	return nil
}

// jwtClaims decodes a compact JWT's payload without verifying it.
func jwtClaims(tok string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return c, nil
}
