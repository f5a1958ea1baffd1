package config

import (
	"encoding/json"

	"github.com/agentgw/agentgateway/llm"
)

// cloudProviders are the provider kinds built here (Gemini, Vertex AI, Bedrock, Azure OpenAI); the
// llm section (sections_llm.go) hands them over with the schema's params.
var cloudProviders = map[string]bool{"gemini": true, "vertex": true, "bedrock": true, "azure": true}

// cloudUpstream builds a Gemini, Vertex, Bedrock or Azure upstream from the schema's LocalLLMParams
// (awsRegion; vertexProject, vertexRegion; azureResourceName, azureResourceType, azureApiVersion,
// azureProjectName). opts are the options common to every kind (model, key, base URL, headers).
func cloudUpstream(bc *BuildContext, name string, params llmParamsSpec, opts []llm.UpstreamOption) (*llm.Upstream, error) {
	switch name {
	case "gemini":
		return llm.Gemini(opts...), nil
	case "vertex":
		if params.VertexProject == "" {
			return nil, bc.Errorf("params.vertexProject", "required for vertex")
		}
		return llm.Vertex(params.VertexProject, params.VertexRegion, opts...), nil
	case "bedrock":
		if params.AWSRegion == "" {
			return nil, bc.Errorf("params.awsRegion", "required for bedrock")
		}
		if params.bedrockMetadata != nil {
			opts = append(opts, llm.RequestMetadata(*params.bedrockMetadata...))
		}
		if params.bedrockGuardrailID != "" {
			opts = append(opts, llm.BedrockGuardrail(params.bedrockGuardrailID, params.bedrockGuardrailVersion))
		}
		return llm.Bedrock(params.AWSRegion, opts...), nil
	case "azure":
		if params.AzureResourceName == "" || params.AzureResourceType == "" {
			return nil, bc.Errorf("params.azureResourceName", "azureResourceName and azureResourceType are required for azure")
		}
		return llm.AzureOpenAI(params.AzureResourceName, llm.AzureResourceType(params.AzureResourceType), params.AzureAPIVersion, params.AzureProjectName, opts...), nil
	}
	return nil, bc.Errorf("provider", "%s is not supported yet", name)
}

// cloudProviderParams reads a route backend's ai.provider.{gemini|vertex|bedrock|azure} object
// (schema GeminiProvider, VertexProvider, BedrockProvider, AzureProvider) into params.
func cloudProviderParams(bc *BuildContext, kind string, raw json.RawMessage, params *llmParamsSpec) error {
	var c struct {
		Model               string `json:"model"`
		Region              string `json:"region"`
		ProjectID           string `json:"projectId"`
		GuardrailIdentifier string `json:"guardrailIdentifier"`
		GuardrailVersion    string `json:"guardrailVersion"`
		ResourceName        string `json:"resourceName"`
		ResourceType        string `json:"resourceType"`
		APIVersion          string `json:"apiVersion"`
		ProjectName         string `json:"projectName"`
		RequestMetadata     []struct {
			Key        string `json:"key"`
			Value      string `json:"value"`
			Expression string `json:"expression"`
		} `json:"requestMetadata"`
	}
	if err := unmarshalStrict(raw, &c); err != nil {
		return bc.Errorf("provider."+kind, "%v", err)
	}
	allowed := map[string][]string{
		"gemini":  {"model"},
		"vertex":  {"model", "region", "projectId"},
		"bedrock": {"model", "region", "guardrailIdentifier", "guardrailVersion"},
		"azure":   {"model", "resourceName", "resourceType", "apiVersion", "projectName"},
	}[kind]
	set := map[string]string{"model": c.Model, "region": c.Region, "projectId": c.ProjectID, "guardrailIdentifier": c.GuardrailIdentifier,
		"guardrailVersion": c.GuardrailVersion, "resourceName": c.ResourceName, "resourceType": c.ResourceType, "apiVersion": c.APIVersion, "projectName": c.ProjectName}
	for _, a := range allowed {
		delete(set, a)
	}
	for f, v := range set {
		if v != "" {
			return bc.Errorf("provider."+kind+"."+f, "unknown field for %s", kind)
		}
	}
	required := map[string][]string{"vertex": {"projectId"}, "bedrock": {"region"}, "azure": {"resourceName", "resourceType"}}[kind]
	values := map[string]string{"projectId": c.ProjectID, "region": c.Region, "resourceName": c.ResourceName, "resourceType": c.ResourceType}
	if len(c.RequestMetadata) > 0 {
		if kind != "bedrock" {
			return bc.Errorf("provider."+kind+".requestMetadata", "unknown field for %s", kind)
		}
		meta := make([]llm.MetadataEntry, len(c.RequestMetadata))
		for i, m := range c.RequestMetadata {
			meta[i] = llm.MetadataEntry{Key: m.Key, Value: m.Value, Expression: m.Expression}
		}
		params.bedrockMetadata = &meta
	}
	for _, f := range required {
		if values[f] == "" {
			return bc.Errorf("provider."+kind+"."+f, "required")
		}
	}
	params.Model = c.Model
	switch kind {
	case "vertex":
		params.VertexProject, params.VertexRegion = c.ProjectID, c.Region
	case "bedrock":
		params.AWSRegion, params.bedrockGuardrailID, params.bedrockGuardrailVersion = c.Region, c.GuardrailIdentifier, c.GuardrailVersion
	case "azure":
		params.AzureResourceName, params.AzureResourceType, params.AzureAPIVersion, params.AzureProjectName = c.ResourceName, c.ResourceType, c.APIVersion, c.ProjectName
	}
	return nil
}
