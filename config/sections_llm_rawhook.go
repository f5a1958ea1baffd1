package config

import "github.com/agentgw/agentgateway/llm"

// rawWebhook applies a webhook guard's messageFormat, path and minSizeBytes. With messageFormat
// raw the webhook gets the request's own message objects (agentgateway's context-compression
// form); path and minSizeBytes belong to that form. It reports whether the guard is raw.
func rawWebhook(bc *BuildContext, s webhookSpec, g *llm.Guard) (*llm.Guard, bool, error) {
	switch s.MessageFormat {
	case "":
		if s.Path != "" {
			return nil, false, bc.Errorf("path", "applies with messageFormat: raw")
		}
		if s.MinSizeBytes != nil {
			return nil, false, bc.Errorf("minSizeBytes", "applies with messageFormat: raw")
		}
		return g, false, nil
	case "raw":
	default:
		return nil, false, bc.Errorf("messageFormat", "want raw, got %q", s.MessageFormat)
	}
	size := 0
	if s.MinSizeBytes != nil {
		if *s.MinSizeBytes < 0 {
			return nil, false, bc.Errorf("minSizeBytes", "must not be negative")
		}
		size = *s.MinSizeBytes
	}
	return g.Raw(s.Path, size), true, nil
}
