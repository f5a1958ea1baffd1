package llm

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"strings"
)

// modelArmorGuard calls Google Cloud Model Armor: POST
// /v1/projects/{project}/locations/{location}/templates/{template}:sanitizeUserPrompt for requests
// and :sanitizeModelResponse for answers.
type modelArmorGuard struct {
	project, location, template string
	base                        string // from CLOUDSDK_API_ENDPOINT_OVERRIDES_MODELARMOR, else the location's
}

// DefaultModelArmorLocation is the location of [GoogleModelArmor] when none is given.
const DefaultModelArmorLocation = "us-central1"

// GoogleModelArmor is a guard that sanitizes requests (sanitizeUserPrompt) and answers
// (sanitizeModelResponse) with the Model Armor template of project in location (default
// [DefaultModelArmorLocation]); the texts go as one, joined by newlines. Any filter whose match
// state is MATCH_FOUND rejects the content. Calls carry a Google access token from the application
// default credentials unless [Guard.Credentials] gives others ([GoogleCredentials],
// [BearerToken]); the endpoint is https://modelarmor.{location}.rep.googleapis.com, or gcloud's
// CLOUDSDK_API_ENDPOINT_OVERRIDES_MODELARMOR, or [Guard.Endpoint].
func GoogleModelArmor(project, location, template string) *Guard {
	if location == "" {
		location = DefaultModelArmorLocation
	}
	m := &modelArmorGuard{project: project, location: location, template: template,
		base: strings.TrimSuffix(os.Getenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_MODELARMOR"), "/")}
	g := newCloudGuard(kindModelArmor, m)
	g.cloud.auth = bearerAuth(&lazyGoogle{})
	if project == "" || template == "" {
		g.err = errors.New("googleModelArmor: projectId and templateId are required")
	}
	return g
}

func (*modelArmorGuard) name() string { return "model armor" }

func (m *modelArmorGuard) defaultBase() string {
	if m.base != "" {
		return m.base
	}
	return "https://modelarmor." + m.location + ".rep.googleapis.com"
}

func (m *modelArmorGuard) assess(ctx context.Context, c *cloudGuard, texts []string, output bool) ([]string, bool, error) {
	text := strings.Join(texts, "\n")
	method, in := "sanitizeUserPrompt", any(map[string]any{"userPromptData": map[string]string{"text": text}})
	if output {
		method, in = "sanitizeModelResponse", map[string]any{"modelResponseData": map[string]string{"text": text}}
	}
	path := "/v1/projects/" + url.PathEscape(m.project) + "/locations/" + url.PathEscape(m.location) +
		"/templates/" + url.PathEscape(m.template) + ":" + method
	var ans struct {
		SanitizationResult *struct {
			FilterMatchState string          `json:"filterMatchState"`
			FilterResults    json.RawMessage `json:"filterResults"`
		} `json:"sanitizationResult"`
	}
	if err := c.post(ctx, path, in, &ans); err != nil {
		return nil, false, err
	}
	r := ans.SanitizationResult
	if r == nil {
		return nil, false, errors.New("answer has no sanitizationResult")
	}
	if r.FilterMatchState == "MATCH_FOUND" {
		return nil, true, nil
	}
	// filterResults is a map (or, in some versions, a list) of filter results, each with a
	// matchState possibly nested (sdpFilterResult.inspectResult).
	var fr any
	if len(r.FilterResults) > 0 && json.Unmarshal(r.FilterResults, &fr) == nil && findString(fr, "matchState", "MATCH_FOUND") {
		return nil, true, nil
	}
	return nil, false, nil
}
