package awsauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// AssumeRole makes the policy sign with the temporary credentials of an IAM role, obtained by STS
// AssumeRole with the base credentials (agentgateway's `aws.assumeRole`). The session name and tags
// may come from CEL, so each caller can get its own session (CloudTrail and cost attribution).
type AssumeRole struct {
	// RoleARN is the role to assume.
	RoleARN string
	// SessionName is the RoleSessionName, or SessionNameExpression a CEL expression giving it per
	// request; with neither the SDK generates one.
	SessionName           string
	SessionNameExpression string
	// Tags are session tags.
	Tags []SessionTag
	// STSEndpoint overrides the STS endpoint (a VPC endpoint; tests).
	STSEndpoint string
	// MaxSessions bounds the cached sessions, one per distinct name and tags (default 1024).
	MaxSessions int
}

// SessionTag is an STS session tag: a static Value or a CEL Expression evaluated per request.
type SessionTag struct {
	Key        string
	Value      string
	Expression string
}

// ErrInvalidSession is wrapped by the errors of a session name or tag value that STS would refuse.
var ErrInvalidSession = errors.New("invalid AWS session name or tag")

// STS's patterns for session names and tags, checked rune by rune: as regular expressions with
// bounded repetition of Unicode classes they compile to about 15 MB of program at start-up.
var (
	sessionNameRE = runePattern{min: 2, max: 64, ok: func(r rune) bool {
		return r < utf8.RuneSelf && (r == '_' || r == '+' || r == '=' || r == ',' || r == '.' || r == '@' || r == '-' ||
			'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}}
	tagKeyRE   = runePattern{min: 1, max: 128, ok: tagRune}
	tagValueRE = runePattern{min: 0, max: 256, ok: tagRune}
)

// runePattern matches strings of min to max runes, each accepted by ok.
type runePattern struct {
	min, max int
	ok       func(rune) bool
}

// MatchString reports whether s is valid UTF-8 of min..max runes that ok all accepts.
func (p runePattern) MatchString(s string) bool {
	n := 0
	for _, r := range s {
		if r == utf8.RuneError || !p.ok(r) {
			return false
		}
		n++
	}
	return n >= p.min && n <= p.max
}

// tagRune is [\p{L}\p{Z}\p{N}_.:/=+\-@], STS's tag alphabet.
func tagRune(r rune) bool {
	switch r {
	case '_', '.', ':', '/', '=', '+', '-', '@':
		return true
	}
	return unicode.IsLetter(r) || unicode.In(r, unicode.Z) || unicode.IsNumber(r)
}

// roleSessions is the compiled assumeRole: an STS client and one cached credentials provider per
// distinct session (name and tags).
type roleSessions struct {
	client   *sts.Client
	arn      string
	name     string
	nameExpr *cel.Program
	tags     []compiledTag
	max      int

	mu       sync.Mutex
	sessions map[string]*aws.CredentialsCache
}

type compiledTag struct {
	key, value string
	p          *cel.Program
}

func newRoleSessions(ar *AssumeRole, base aws.Config) (*roleSessions, error) {
	if ar.RoleARN == "" {
		return nil, agentgateway.Errorf("assumeRole.roleArn", "required")
	}
	rs := &roleSessions{arn: ar.RoleARN, name: ar.SessionName, max: ar.MaxSessions, sessions: map[string]*aws.CredentialsCache{}}
	if rs.max <= 0 {
		rs.max = 1024
	}
	switch {
	case ar.SessionName != "" && ar.SessionNameExpression != "":
		return nil, agentgateway.Errorf("assumeRole.sessionName", "set a name or an expression, not both")
	case ar.SessionName != "" && !sessionNameRE.MatchString(ar.SessionName):
		return nil, agentgateway.Errorf("assumeRole.sessionName", "%w: %q (2 to 64 of [\\w+=,.@-])", ErrInvalidSession, ar.SessionName)
	case ar.SessionNameExpression != "":
		p, err := cel.Compile(ar.SessionNameExpression, nil)
		if err != nil {
			return nil, agentgateway.Errorf("assumeRole.sessionName.expression", "%w", err)
		}
		rs.nameExpr = p
	}
	for i, t := range ar.Tags {
		field := fmt.Sprintf("assumeRole.tags[%d]", i)
		switch {
		case !tagKeyRE.MatchString(t.Key):
			return nil, agentgateway.Errorf(field+".key", "%w: key %q", ErrInvalidSession, t.Key)
		case (t.Value != "") == (t.Expression != ""):
			return nil, agentgateway.Errorf(field, "set exactly one of value, expression")
		case t.Value != "" && !tagValueRE.MatchString(t.Value):
			return nil, agentgateway.Errorf(field+".value", "%w: value %q", ErrInvalidSession, t.Value)
		}
		ct := compiledTag{key: t.Key, value: t.Value}
		if t.Expression != "" {
			p, err := cel.Compile(t.Expression, nil)
			if err != nil {
				return nil, agentgateway.Errorf(field+".expression", "%w", err)
			}
			ct.p = p
		}
		rs.tags = append(rs.tags, ct)
	}
	rs.client = sts.NewFromConfig(base, func(o *sts.Options) {
		if ar.STSEndpoint != "" {
			o.BaseEndpoint = aws.String(ar.STSEndpoint)
		}
	})
	return rs, nil
}

// credentials returns the role's credentials for r's session, assuming the role when the session is
// new or its credentials expire.
func (rs *roleSessions) credentials(ctx context.Context, r *http.Request) (aws.Credentials, error) {
	name := rs.name
	var act *cel.Activation
	if rs.nameExpr != nil {
		act = cel.NewActivation(r, nil)
		v, err := rs.nameExpr.EvalString(ctx, act)
		if err != nil {
			return aws.Credentials{}, fmt.Errorf("%w: session name: %w", ErrInvalidSession, err)
		}
		if !sessionNameRE.MatchString(v) {
			return aws.Credentials{}, fmt.Errorf("%w: session name %q (2 to 64 of [\\w+=,.@-])", ErrInvalidSession, v)
		}
		name = v
	}
	tags := make([]ststypes.Tag, 0, len(rs.tags))
	var key strings.Builder
	fmt.Fprintf(&key, "%d:%s", len(name), name)
	for _, t := range rs.tags {
		v := t.value
		if t.p != nil {
			if act == nil {
				act = cel.NewActivation(r, nil)
			}
			s, err := t.p.EvalString(ctx, act)
			if err != nil {
				return aws.Credentials{}, fmt.Errorf("%w: tag %s: %w", ErrInvalidSession, t.key, err)
			}
			if !tagValueRE.MatchString(s) {
				return aws.Credentials{}, fmt.Errorf("%w: tag %s value %q", ErrInvalidSession, t.key, s)
			}
			v = s
		}
		tags = append(tags, ststypes.Tag{Key: aws.String(t.key), Value: aws.String(v)})
		fmt.Fprintf(&key, "|%d:%s", len(v), v)
	}
	rs.mu.Lock()
	c := rs.sessions[key.String()]
	if c == nil {
		if len(rs.sessions) >= rs.max {
			for k := range rs.sessions { // drop an arbitrary session; it is assumed again if needed
				delete(rs.sessions, k)
				break
			}
		}
		c = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(rs.client, rs.arn, func(o *stscreds.AssumeRoleOptions) {
			if name != "" {
				o.RoleSessionName = name
			}
			o.Tags = tags
		}))
		rs.sessions[key.String()] = c
	}
	rs.mu.Unlock()
	return c.Retrieve(ctx)
}
