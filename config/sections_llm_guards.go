package config

import (
	"strings"

	"github.com/agentgw/agentgateway/llm"
)

// The cloud prompt guards of a PromptGuard (RequestGuard / ResponseGuard): bedrockGuardrails,
// googleModelArmor and azureContentSafety.

// guardPoliciesSpec is the schema's SimpleLocalBackendPolicies on a cloud guard: backendAuth is
// served; the rest is refused.
type guardPoliciesSpec struct {
	BackendAuth           *llmAuthSpec `json:"backendAuth"`
	RequestHeaderModifier Node         `json:"requestHeaderModifier"`
	Transformations       Node         `json:"transformations"`
	BackendTLS            Node         `json:"backendTLS"`
	HTTP                  Node         `json:"http"`
	TCP                   Node         `json:"tcp"`
	BackendTunnel         Node         `json:"backendTunnel"`
}

type bedrockGuardSpec struct {
	GuardrailIdentifier string             `json:"guardrailIdentifier"`
	GuardrailVersion    string             `json:"guardrailVersion"`
	Region              string             `json:"region"`
	Policies            *guardPoliciesSpec `json:"policies"`
}

type modelArmorSpec struct {
	TemplateID string             `json:"templateId"`
	ProjectID  string             `json:"projectId"`
	Location   string             `json:"location"`
	Policies   *guardPoliciesSpec `json:"policies"`
}

type azureSafetySpec struct {
	Endpoint    string             `json:"endpoint"`
	Policies    *guardPoliciesSpec `json:"policies"`
	AnalyzeText *struct {
		SeverityThreshold  *int     `json:"severityThreshold"`
		APIVersion         string   `json:"apiVersion"`
		BlocklistNames     []string `json:"blocklistNames"`
		HaltOnBlocklistHit bool     `json:"haltOnBlocklistHit"`
	} `json:"analyzeText"`
	DetectJailbreak *struct {
		APIVersion string `json:"apiVersion"`
	} `json:"detectJailbreak"`
	// SeverityThreshold is the flat form agentgateway's published example writes: analyzeText with
	// this threshold.
	SeverityThreshold *int `json:"severityThreshold"`
}

// buildCloudGuard builds the cloud guard s sets (nil when it sets none).
func buildCloudGuard(bc *BuildContext, s guardSpec, request bool) (*llm.Guard, error) {
	var g *llm.Guard
	var pol *guardPoliciesSpec
	var field string
	switch {
	case s.BedrockGuardrails != nil:
		b := s.BedrockGuardrails
		field, pol = "bedrockGuardrails", b.Policies
		if b.GuardrailIdentifier == "" || b.GuardrailVersion == "" || b.Region == "" {
			return nil, bc.Errorf(field, "guardrailIdentifier, guardrailVersion and region are required")
		}
		g = llm.BedrockGuardrails(b.GuardrailIdentifier, b.GuardrailVersion, b.Region)
	case s.GoogleModelArmor != nil:
		m := s.GoogleModelArmor
		field, pol = "googleModelArmor", m.Policies
		if m.TemplateID == "" || m.ProjectID == "" {
			return nil, bc.Errorf(field, "templateId and projectId are required")
		}
		g = llm.GoogleModelArmor(m.ProjectID, m.Location, m.TemplateID)
	case s.AzureContentSafety != nil:
		a := s.AzureContentSafety
		field, pol = "azureContentSafety", a.Policies
		var at *llm.AzureAnalyzeText
		var dj *llm.AzureDetectJailbreak
		if x := a.AnalyzeText; x != nil {
			at = &llm.AzureAnalyzeText{SeverityThreshold: x.SeverityThreshold, APIVersion: x.APIVersion,
				BlocklistNames: x.BlocklistNames, HaltOnBlocklistHit: x.HaltOnBlocklistHit}
		}
		if a.SeverityThreshold != nil {
			if at != nil {
				return nil, bc.Errorf(field+".severityThreshold", "set it in analyzeText or here, not both")
			}
			at = &llm.AzureAnalyzeText{SeverityThreshold: a.SeverityThreshold}
		}
		if x := a.DetectJailbreak; x != nil {
			if !request {
				return nil, bc.Errorf(field+".detectJailbreak", "applies to request guards only")
			}
			dj = &llm.AzureDetectJailbreak{APIVersion: x.APIVersion}
		}
		g = llm.AzureContentSafety(a.Endpoint, at, dj)
	default:
		return nil, nil
	}
	if p := pol; p != nil {
		pbc := bc.At(field + ".policies")
		if err := notYet(pbc, map[string]Node{"requestHeaderModifier": p.RequestHeaderModifier, "transformations": p.Transformations,
			"backendTLS": p.BackendTLS, "http": p.HTTP, "tcp": p.TCP, "backendTunnel": p.BackendTunnel}); err != nil {
			return nil, err
		}
		if a := p.BackendAuth; a != nil {
			switch {
			case a.Key != nil:
				key, err := a.Key.load(pbc, "backendAuth.key")
				if err != nil {
					return nil, err
				}
				g = g.Key(strings.TrimSpace(string(key)))
			case a.Other != "":
				opt, err := cloudAuth(pbc.At("backendAuth"), a.Other, a.otherRaw)
				if err != nil {
					return nil, err
				}
				g = g.Credentials(opt)
			default:
				return nil, pbc.Errorf("backendAuth", "want key, aws, gcp or azure")
			}
		}
	}
	if err := g.Err(); err != nil {
		return nil, bc.At(field).Wrap(err)
	}
	return g, nil
}
