package llm

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"unicode/utf8"
)

// azureGuard calls Azure AI Content Safety: POST /contentsafety/text:analyze (harm categories and
// blocklists) and /contentsafety/text:detectJailbreak (requests only).
type azureGuard struct {
	analyze   *AzureAnalyzeText
	jailbreak *AzureDetectJailbreak
	base      string
}

// AzureAnalyzeText configures Content Safety's Analyze Text call (the schema's AnalyzeTextConfig).
type AzureAnalyzeText struct {
	// SeverityThreshold blocks content whose severity in any category (Hate, SelfHarm, Sexual,
	// Violence) is at or above it; nil means 2.
	SeverityThreshold *int
	// APIVersion defaults to [DefaultAzureAnalyzeVersion].
	APIVersion string
	// BlocklistNames are checked too; any hit blocks.
	BlocklistNames     []string
	HaltOnBlocklistHit bool
}

// AzureDetectJailbreak configures Content Safety's Detect Jailbreak call (the schema's
// DetectJailbreakConfig); it applies to requests only.
type AzureDetectJailbreak struct {
	// APIVersion defaults to [DefaultAzureJailbreakVersion].
	APIVersion string
}

// API versions of the Content Safety calls.
const (
	DefaultAzureAnalyzeVersion   = "2024-09-01"
	DefaultAzureJailbreakVersion = "2024-02-15-preview"
)

// AzureContentSafety is a guard that asks the Azure AI Content Safety resource at endpoint (its
// host, "<resource>.cognitiveservices.azure.com"; https unless an http:// URL is given) about the
// texts, joined by newlines: Analyze Text (when analyze is set) rejects content at or above the
// severity threshold or on a blocklist hit; Detect Jailbreak (when jailbreak is set) rejects a
// request it flags. Calls carry an Entra ID token of the implicit Azure credential (workload
// identity when AZURE_FEDERATED_TOKEN_FILE is set, else the managed identity) unless
// [Guard.Credentials] gives [AzureEntra] or [APIKey] (the resource key).
func AzureContentSafety(endpoint string, analyze *AzureAnalyzeText, jailbreak *AzureDetectJailbreak) *Guard {
	a := &azureGuard{analyze: analyze, jailbreak: jailbreak}
	g := newCloudGuard(kindAzureContentSafety, a)
	switch {
	case endpoint == "":
		g.err = errors.New("azureContentSafety: endpoint is required")
	case strings.HasPrefix(endpoint, "http://") || strings.HasPrefix(endpoint, "https://"):
		a.base = strings.TrimSuffix(endpoint, "/")
	default:
		a.base = "https://" + strings.TrimSuffix(endpoint, "/")
	}
	if u, err := url.Parse(a.base); endpoint != "" && (err != nil || u.Host == "" || (u.Path != "" && u.Path != "/")) {
		g.err = fmt.Errorf("azureContentSafety: endpoint %q: want a host name", endpoint)
	}
	if analyze == nil && jailbreak == nil {
		g.err = errors.Join(g.err, errors.New("azureContentSafety: set analyzeText, detectJailbreak or both"))
	}
	if analyze != nil && analyze.SeverityThreshold != nil && (*analyze.SeverityThreshold < 0 || *analyze.SeverityThreshold > 7) {
		g.err = errors.Join(g.err, fmt.Errorf("azureContentSafety: severityThreshold %d: want 0 to 7", *analyze.SeverityThreshold))
	}
	c := AzureCredential{ManagedIdentity: true, IdentityClientID: os.Getenv("AZURE_CLIENT_ID")}
	if os.Getenv("AZURE_FEDERATED_TOKEN_FILE") != "" {
		c = AzureCredential{WorkloadIdentity: true}
	}
	if ts, err := c.TokenSource(); err == nil {
		g.cloud.auth = bearerAuth(ts)
	}
	return g
}

func (*azureGuard) name() string { return "azure content safety" }

func (a *azureGuard) defaultBase() string { return a.base }

// The services' limits on one text, in characters: longer texts are judged in pieces.
const (
	azureAnalyzeLimit   = 10000
	azureJailbreakLimit = 1000
)

// runeChunks splits s into pieces of at most n runes.
func runeChunks(s string, n int) []string {
	var out []string
	for len(s) > 0 {
		i, runes := 0, 0
		for i < len(s) && runes < n {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			runes++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

func (a *azureGuard) assess(ctx context.Context, c *cloudGuard, texts []string, output bool) ([]string, bool, error) {
	text := strings.Join(texts, "\n")
	for _, piece := range runeChunks(text, azureAnalyzeLimit) {
		if blocked, err := a.analyzeText(ctx, c, piece); err != nil || blocked {
			return nil, blocked, err
		}
	}
	if a.jailbreak == nil || output {
		return nil, false, nil
	}
	for _, piece := range runeChunks(text, azureJailbreakLimit) {
		if blocked, err := a.detectJailbreak(ctx, c, piece); err != nil || blocked {
			return nil, blocked, err
		}
	}
	return nil, false, nil
}

// analyzeText runs Analyze Text on one piece (no call when analyzeText is not configured).
func (a *azureGuard) analyzeText(ctx context.Context, c *cloudGuard, text string) (bool, error) {
	if an := a.analyze; an != nil {
		in := map[string]any{"text": text}
		if len(an.BlocklistNames) > 0 {
			in["blocklistNames"] = an.BlocklistNames
			in["haltOnBlocklistHit"] = an.HaltOnBlocklistHit
		}
		var ans struct {
			BlocklistsMatch    []struct{} `json:"blocklistsMatch"`
			CategoriesAnalysis []struct {
				Category string `json:"category"`
				Severity int    `json:"severity"`
			} `json:"categoriesAnalysis"`
		}
		if err := c.post(ctx, "/contentsafety/text:analyze?api-version="+url.QueryEscape(orDefault(an.APIVersion, DefaultAzureAnalyzeVersion)), in, &ans); err != nil {
			return false, err
		}
		threshold := 2
		if an.SeverityThreshold != nil {
			threshold = *an.SeverityThreshold
		}
		if len(ans.BlocklistsMatch) > 0 {
			return true, nil
		}
		for _, ca := range ans.CategoriesAnalysis {
			if ca.Severity >= threshold {
				return true, nil
			}
		}
	}
	return false, nil
}

// detectJailbreak runs Detect Jailbreak on one piece.
func (a *azureGuard) detectJailbreak(ctx context.Context, c *cloudGuard, text string) (bool, error) {
	if j := a.jailbreak; j != nil {
		var ans struct {
			JailbreakAnalysis *struct {
				Detected bool `json:"detected"`
			} `json:"jailbreakAnalysis"`
		}
		if err := c.post(ctx, "/contentsafety/text:detectJailbreak?api-version="+url.QueryEscape(orDefault(j.APIVersion, DefaultAzureJailbreakVersion)), map[string]string{"text": text}, &ans); err != nil {
			return false, err
		}
		if ans.JailbreakAnalysis == nil {
			return false, errors.New("answer has no jailbreakAnalysis")
		}
		return ans.JailbreakAnalysis.Detected, nil
	}
	return false, nil
}

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
