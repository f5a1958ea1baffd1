package config

import (
	"net"
	"strconv"

	"gopkg.in/yaml.v3"
)

// httpBackendSpec is a backend's `http: {hostname, port}`, the spelling of agentgateway's
// basic-authentication example for a plain HTTP host backend.
type httpBackendSpec struct {
	Hostname string `json:"hostname"`
	Port     int    `json:"port"`
}

// httpAsHost turns `http: {hostname, port}` into the `host: hostname:port` backend it means, so that
// everything a host backend takes (backendTLS, health, tunnels) applies to it unchanged.
func httpAsHost(val *yaml.Node, path string) (Node, error) {
	var s httpBackendSpec
	if err := decodeValue(val, reflectValue(&s), path); err != nil {
		return Node{}, err
	}
	if s.Hostname == "" {
		return Node{}, errAt(joinPath(path, "hostname"), val, "required")
	}
	if s.Port < 1 || s.Port > 65535 {
		return Node{}, errAt(joinPath(path, "port"), val, "want a port between 1 and 65535, got %d", s.Port)
	}
	host := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: net.JoinHostPort(s.Hostname, strconv.Itoa(s.Port)), Line: val.Line, Column: val.Column}
	return Node{n: host, path: path}, nil
}
