package config

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/agentgw/agentgateway/llm"
)

// ModelCatalogSource is one entry of `config.modelCatalog` (the schema's ModelCatalogSource): a
// catalog file (YAML or JSON, read on every build, so a config reload re-reads it) or an inline
// catalog, given as a string or as structured data.
type ModelCatalogSource struct {
	// File is the catalog file, relative to the config's directory.
	File string
	// Inline is the parsed inline catalog.
	Inline *llm.Catalog
}

func (s *ModelCatalogSource) decodeNode(n *yaml.Node, path string) error {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return errAt(path, n, "want {file: path} or {inline: catalog}")
	}
	key, val := n.Content[0].Value, n.Content[1]
	switch key {
	case "file":
		if val.Kind != yaml.ScalarNode || val.Value == "" || val.Tag == "!!null" {
			return errAt(path+".file", val, "want a file name")
		}
		s.File = val.Value
		return nil
	case "inline":
		var doc []byte
		switch {
		case val.Kind == yaml.ScalarNode && val.Tag == "!!str":
			doc = []byte(val.Value)
		case val.Kind == yaml.MappingNode:
			b, err := yaml.Marshal(val)
			if err != nil {
				return errAt(path+".inline", val, "%v", err)
			}
			doc = b
		default:
			return errAt(path+".inline", val, "want a catalog (an object, or a string holding one), got %s", kindName(val))
		}
		c, err := llm.ParseCatalog(doc)
		if err != nil {
			return errAt(path+".inline", val, "%v", err)
		}
		s.Inline = c
		return nil
	}
	return errAt(path, n, "unknown key %q: want file or inline", key)
}

// buildModelCatalog merges the sources in order, later entries taking precedence (nil when there
// are none). File sources are read now, so every build sees the file's current prices.
func buildModelCatalog(bc *BuildContext, srcs []ModelCatalogSource) (*llm.Catalog, error) {
	cats := make([]*llm.Catalog, 0, len(srcs))
	for i, s := range srcs {
		c := s.Inline
		if s.File != "" {
			field := fmt.Sprintf("config.modelCatalog[%d].file", i)
			b, err := bc.ReadFile(field, s.File)
			if err != nil {
				return nil, err
			}
			if c, err = llm.ParseCatalog(b); err != nil {
				return nil, bc.Errorf(field, "%s: %w", s.File, err)
			}
		}
		cats = append(cats, c)
	}
	return llm.MergeCatalogs(cats...), nil
}
