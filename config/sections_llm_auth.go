package config

import (
	"encoding/json"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/agentgw/agentgateway/llm"
)

// cloudAuth builds an LLM provider's cloud credential from the schema's BackendAuth aws (AwsAuth),
// gcp (GcpAuth) or azure (AzureAuth), found under llm.models[].auth, llm.providers[].defaults.auth
// and an ai backend's policies.backendAuth.
func cloudAuth(bc *BuildContext, kind string, raw json.RawMessage) (llm.UpstreamOption, error) {
	field := "auth." + kind
	switch kind {
	case "aws":
		var a struct {
			AccessKeyID     string          `json:"accessKeyId"`
			SecretAccessKey string          `json:"secretAccessKey"`
			SessionToken    string          `json:"sessionToken"`
			Region          string          `json:"region"`
			ServiceName     string          `json:"serviceName"`
			AssumeRole      json.RawMessage `json:"assumeRole"`
		}
		if err := unmarshalStrict(raw, &a); err != nil {
			return nil, bc.Errorf(field, "%v", err)
		}
		if (a.AccessKeyID == "") != (a.SecretAccessKey == "") {
			return nil, bc.Errorf(field, "set both accessKeyId and secretAccessKey, or neither (the default credential chain)")
		}
		var creds aws.CredentialsProvider
		if a.AccessKeyID != "" {
			creds = credentials.NewStaticCredentialsProvider(a.AccessKeyID, a.SecretAccessKey, a.SessionToken)
		}
		if a.AssumeRole != nil && string(a.AssumeRole) != "null" {
			if a.AccessKeyID != "" {
				return nil, bc.Errorf(field+".assumeRole", "assumeRole goes with the implicit credentials (no accessKeyId)")
			}
			var r struct {
				RoleArn     string          `json:"roleArn"`
				SessionName json.RawMessage `json:"sessionName"`
				Tags        []struct {
					Key        string          `json:"key"`
					Value      *string         `json:"value"`
					Expression json.RawMessage `json:"expression"`
				} `json:"tags"`
			}
			if err := unmarshalStrict(a.AssumeRole, &r); err != nil || r.RoleArn == "" {
				return nil, bc.Errorf(field+".assumeRole", "want {roleArn, sessionName, tags}: roleArn is required")
			}
			var session string
			var dynamic bool // a CEL session name or tag: credentials per caller (sections_llm_awsrole.go)
			if len(r.SessionName) > 0 && string(r.SessionName) != "null" {
				if err := json.Unmarshal(r.SessionName, &session); err != nil {
					dynamic = true
				}
			}
			tags := map[string]string{}
			for _, t := range r.Tags {
				if t.Value == nil || (len(t.Expression) > 0 && string(t.Expression) != "null") {
					dynamic = true
					continue
				}
				tags[t.Key] = *t.Value
			}
			if dynamic {
				c, err := llmRoleCredentials(bc, field, a.AssumeRole, a.Region)
				if err != nil {
					return nil, err
				}
				creds = c
			} else {
				creds = llm.AWSAssumeRole(nil, a.Region, r.RoleArn, session, tags)
			}
		}
		return llm.AWSSigV4(creds, a.Region, a.ServiceName), nil
	case "gcp":
		var g struct {
			Type       string        `json:"type"`
			Audience   string        `json:"audience"`
			Credential *fileOrInline `json:"credential"`
		}
		if err := unmarshalStrict(raw, &g); err != nil {
			return nil, bc.Errorf(field, "%v", err)
		}
		switch g.Type {
		case "", "accessToken":
		case "idToken":
			return nil, bc.Errorf(field+".type", "idToken is not supported yet (LLM providers take access tokens)")
		default:
			return nil, bc.Errorf(field+".type", "want accessToken or idToken")
		}
		var cred []byte
		if g.Credential != nil {
			b, err := g.Credential.load(bc, field+".credential")
			if err != nil {
				return nil, err
			}
			cred = b
		}
		return llm.GoogleCredentials(cred), nil
	case "azure":
		var z struct {
			ExplicitConfig *struct {
				ClientSecret *struct {
					TenantID     string `json:"tenant_id"`
					ClientID     string `json:"client_id"`
					ClientSecret string `json:"client_secret"`
				} `json:"clientSecret"`
				ManagedIdentity *struct {
					UserAssignedIdentity *struct {
						ClientID   string `json:"clientId"`
						ObjectID   string `json:"objectId"`
						ResourceID string `json:"resourceId"`
					} `json:"userAssignedIdentity"`
				} `json:"managedIdentity"`
				WorkloadIdentity *struct{} `json:"workloadIdentity"`
			} `json:"explicitConfig"`
			DeveloperImplicit *struct{} `json:"developerImplicit"`
			Implicit          *struct{} `json:"implicit"`
		}
		if err := unmarshalStrict(raw, &z); err != nil {
			return nil, bc.Errorf(field, "%v", err)
		}
		var c llm.AzureCredential
		switch e := z.ExplicitConfig; {
		case e != nil && e.ClientSecret != nil:
			s := e.ClientSecret
			if s.TenantID == "" || s.ClientID == "" || s.ClientSecret == "" {
				return nil, bc.Errorf(field+".explicitConfig.clientSecret", "tenant_id, client_id and client_secret are required")
			}
			c = llm.AzureCredential{TenantID: s.TenantID, ClientID: s.ClientID, ClientSecret: s.ClientSecret}
		case e != nil && e.ManagedIdentity != nil:
			c.ManagedIdentity = true
			if u := e.ManagedIdentity.UserAssignedIdentity; u != nil {
				c.IdentityClientID, c.IdentityObjectID, c.IdentityResourceID = u.ClientID, u.ObjectID, u.ResourceID
			}
		case e != nil && e.WorkloadIdentity != nil:
			c.WorkloadIdentity = true
		case z.Implicit != nil:
			// As the Azure SDKs' default chain, minus developer tools: workload identity on
			// Kubernetes, else the managed identity of the machine.
			if os.Getenv("AZURE_FEDERATED_TOKEN_FILE") != "" {
				c.WorkloadIdentity = true
			} else {
				c.ManagedIdentity = true
				c.IdentityClientID = os.Getenv("AZURE_CLIENT_ID")
			}
		case z.DeveloperImplicit != nil:
			return nil, bc.Errorf(field+".developerImplicit", "not supported yet (use clientSecret or a managed identity)")
		default:
			return nil, bc.Errorf(field, "set one of explicitConfig (clientSecret, managedIdentity, workloadIdentity), implicit")
		}
		return llm.AzureEntra(c), nil
	}
	return nil, bc.Errorf("auth."+kind, "not supported yet for LLM providers")
}
