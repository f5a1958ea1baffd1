package config

import (
	"fmt"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
)

// ParseNode parses one YAML or JSON value (e.g. a `policies` object) into a Node whose errors are
// reported under path, so that other front ends (the Kubernetes translator) compile schema objects
// with the same builders as a file ([BuildContext.BuildPolicies]).
func ParseNode(path string, data []byte) (Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Node{}, &agentgateway.ConfigError{Path: path, Err: fmt.Errorf("parsing: %w", err)}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return Node{path: path}, nil
	}
	return Node{n: doc.Content[0], path: path}, nil
}
