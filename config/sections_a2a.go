package config

// The rows of package a2a: the route policy `a2a`.
var (
	a2aPolicies = []PolicySection{}
	a2aBackends = []BackendSection{}
)
