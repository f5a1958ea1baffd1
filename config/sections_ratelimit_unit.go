package config

import (
	"strings"
	"time"
)

// applyUnit turns the short form of a local rate limit (limit: 50, unit: seconds — "50 per second")
// into the bucket it means: limit tokens, all refilled every unit. It is an error to mix the two forms.
func (r *rateLimitSpec) applyUnit(bc *BuildContext, field string) error {
	if r.Limit == 0 && r.Unit == "" {
		return nil
	}
	if r.MaxTokens != 0 || r.TokensPerFill != 0 || r.FillInterval != 0 {
		return bc.Errorf(field, "set limit and unit, or maxTokens, tokensPerFill and fillInterval, not both")
	}
	if r.Limit == 0 {
		return bc.Errorf(field+".limit", "required with unit (a positive number)")
	}
	var per time.Duration
	switch strings.ToLower(strings.TrimSuffix(strings.ToLower(r.Unit), "s")) {
	case "second":
		per = time.Second
	case "minute":
		per = time.Minute
	case "hour":
		per = time.Hour
	case "day":
		per = 24 * time.Hour
	case "":
		return bc.Errorf(field+".unit", "required with limit (seconds, minutes, hours or days)")
	default:
		return bc.Errorf(field+".unit", "want seconds, minutes, hours or days, got %q", r.Unit)
	}
	r.MaxTokens, r.TokensPerFill, r.FillInterval = r.Limit, r.Limit, per
	return nil
}
