package llm

import (
	"fmt"
	"net/http"
	"net/url"
)

// AzureResourceType is the kind of Azure endpoint (the schema's resourceType).
type AzureResourceType string

// Azure resource types.
const (
	// AzureOpenAIResource is an Azure OpenAI Service resource: {resourceName}.openai.azure.com.
	AzureOpenAIResource AzureResourceType = "openAI"
	// AzureFoundry is an Azure AI Foundry project: {resourceName}.services.ai.azure.com, paths under
	// /api/projects/{projectName}/openai/v1.
	AzureFoundry AzureResourceType = "foundry"
	// AzureAIServices is the same endpoint kind as AzureFoundry.
	AzureAIServices AzureResourceType = "aiServices"
)

// AzureOpenAIChat is Azure OpenAI (OpenAI chat completions on Azure) as a [Provider]. The request and
// response bodies are OpenAI's (its client format passes unchanged); the host, the path and the key
// header differ:
//
//   - openAI with an APIVersion other than "v1": /openai/deployments/{model}/chat/completions?api-version=...
//     (the model is the deployment name);
//   - openAI without one (or "v1"): /openai/v1/chat/completions, the model in the body;
//   - foundry / aiServices: /api/projects/{ProjectName}/openai/v1/chat/completions.
//
// The key is sent as the api-key header.
type AzureOpenAIChat struct {
	OpenAIChat
	ResourceName string
	ResourceType AzureResourceType
	APIVersion   string
	ProjectName  string
}

var _ Provider = AzureOpenAIChat{}

// AzureOpenAI is an Azure OpenAI or Foundry endpoint (see [AzureOpenAIChat]). Its key comes from
// [APIKey], else the environment variable AZURE_OPENAI_API_KEY.
func AzureOpenAI(resourceName string, resourceType AzureResourceType, apiVersion, projectName string, opts ...UpstreamOption) *Upstream {
	p := AzureOpenAIChat{ResourceName: resourceName, ResourceType: resourceType, APIVersion: apiVersion, ProjectName: projectName}
	u := newUpstream(p, "azure.ai.openai", "AZURE_OPENAI_API_KEY", opts)
	switch {
	case resourceName == "":
		u.errs = append(u.errs, fmt.Errorf("azure: resourceName is required"))
	case resourceType != AzureOpenAIResource && resourceType != AzureFoundry && resourceType != AzureAIServices:
		u.errs = append(u.errs, fmt.Errorf("azure: resourceType %q: want openAI, foundry or aiServices", resourceType))
	case resourceType != AzureOpenAIResource && projectName == "":
		u.errs = append(u.errs, fmt.Errorf("azure: projectName is required with resourceType %s", resourceType))
	}
	return u
}

// Name implements [Provider].
func (AzureOpenAIChat) Name() string { return "azure.ai.openai" }

// DefaultBase implements [Provider].
func (a AzureOpenAIChat) DefaultBase() string {
	if a.ResourceType == AzureOpenAIResource {
		return "https://" + a.ResourceName + ".openai.azure.com"
	}
	return "https://" + a.ResourceName + ".services.ai.azure.com"
}

// PathFor implements the model-in-path hook (deployments are named in the path).
func (a AzureOpenAIChat) PathFor(op Operation, model string, stream bool) string {
	rest := a.OpenAIChat.Path(op)
	if rest == "" {
		return ""
	}
	return a.pathWith(rest, model)
}

// pathWith is the Azure path of an OpenAI operation path (rest: "/chat/completions", "/embeddings").
func (a AzureOpenAIChat) pathWith(rest, model string) string {
	var p string
	switch {
	case a.ResourceType != AzureOpenAIResource:
		p = "/api/projects/" + url.PathEscape(a.ProjectName) + "/openai/v1" + rest
	case a.APIVersion != "" && a.APIVersion != "v1":
		p = "/openai/deployments/" + url.PathEscape(model) + rest
	default:
		p = "/openai/v1" + rest
	}
	if a.APIVersion != "" && a.APIVersion != "v1" {
		p += "?api-version=" + url.QueryEscape(a.APIVersion)
	}
	return p
}

// SetHeaders implements [Provider]: the key as api-key.
func (AzureOpenAIChat) SetHeaders(h http.Header, key string) {
	h.Set("Content-Type", "application/json")
	if key != "" {
		h.Set("api-key", key)
	}
}
