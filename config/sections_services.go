package config

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
)

// Top-level `services` and `workloads`: static service discovery outside Kubernetes, as agentgateway's
// local config has it. A backend `service: {name: "namespace/hostname", port: 80}` that names a
// service of the file is served by the endpoints of the workloads that select it (each workload IP at
// the workload's target port, else the service's); a name the file does not define is resolved by
// DNS as before.

// serviceSpec is one entry of `services` (agentgateway's discovery Service).
type serviceSpec struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Hostname  string `json:"hostname"`
	// VIPs ("network/ip") address the service inside a mesh; backends here name services by hostname.
	VIPs []string `json:"vips"`
	// Ports maps a service port to the workloads' target port.
	Ports map[string]int `json:"ports"`
	// AppProtocols says how to speak to a port: Http11, Http2 or Grpc (HTTP/2 without TLS).
	AppProtocols    map[string]string `json:"appProtocols"`
	SubjectAltNames []string          `json:"subjectAltNames"`
	Waypoint        Node              `json:"waypoint"`
	LoadBalancer    Node              `json:"loadBalancer"`
	IPFamilies      string            `json:"ipFamilies"`
}

// workloadSpec is one entry of `workloads` (agentgateway's LocalWorkload). Identity and placement
// fields are accepted as labels; the mesh fields (waypoint, network gateway, HBONE) are refused.
type workloadSpec struct {
	WorkloadIPs       []string                  `json:"workloadIps"`
	Services          map[string]map[string]int `json:"services"`
	Status            string                    `json:"status"`
	UID               string                    `json:"uid"`
	Name              string                    `json:"name"`
	Namespace         string                    `json:"namespace"`
	TrustDomain       string                    `json:"trustDomain"`
	ServiceAccount    string                    `json:"serviceAccount"`
	Network           string                    `json:"network"`
	WorkloadName      string                    `json:"workloadName"`
	WorkloadType      string                    `json:"workloadType"`
	CanonicalName     string                    `json:"canonicalName"`
	CanonicalRevision string                    `json:"canonicalRevision"`
	Hostname          string                    `json:"hostname"`
	Node              string                    `json:"node"`
	ClusterID         string                    `json:"clusterId"`
	Locality          map[string]string         `json:"locality"`
	Capacity          *int                      `json:"capacity"`
	Protocol          string                    `json:"protocol"`
	NetworkMode       string                    `json:"networkMode"`
	Waypoint          Node                      `json:"waypoint"`
	NetworkGateway    Node                      `json:"networkGateway"`
	AuthzPolicies     []string                  `json:"authorizationPolicies"`
}

// serviceCatalog is the file's services, by "namespace/hostname", and its workloads.
type serviceCatalog struct {
	services  []serviceSpec
	workloads []workloadSpec
	byName    map[string]int
}

func (c *serviceCatalog) decode(key string, n *yaml.Node) []error {
	switch key {
	case "services":
		s, err := Decode[[]serviceSpec](Node{n: n, path: key})
		if err != nil {
			return []error{err}
		}
		c.services = s
	case "workloads":
		w, err := Decode[[]workloadSpec](Node{n: n, path: key})
		if err != nil {
			return []error{err}
		}
		c.workloads = w
	}
	return nil
}

// link validates the services and workloads and indexes the services.
func (c *serviceCatalog) link() []error {
	var errs []error
	c.byName = map[string]int{}
	for i, s := range c.services {
		p := fmt.Sprintf("services[%d]", i)
		if s.Namespace == "" || s.Hostname == "" {
			errs = append(errs, agentgateway.Errorf(p, "a service needs namespace and hostname"))
			continue
		}
		key := s.Namespace + "/" + s.Hostname
		if _, dup := c.byName[key]; dup {
			errs = append(errs, agentgateway.Errorf(p, "service %s is defined twice", key))
		}
		c.byName[key] = i
		for port, target := range s.Ports {
			if _, err := parsePort(port); err != nil || target < 0 || target > 65535 {
				errs = append(errs, agentgateway.Errorf(p+".ports."+port, "want port: targetPort (1..65535)"))
			}
		}
		for port, proto := range s.AppProtocols {
			if _, err := parsePort(port); err != nil || !slices.Contains([]string{"Http11", "Http2", "Grpc"}, proto) {
				errs = append(errs, agentgateway.Errorf(p+".appProtocols."+port, "want port: Http11, Http2 or Grpc"))
			}
		}
		for j, v := range s.VIPs {
			if _, ip, ok := strings.Cut(v, "/"); !ok || !validIP(ip) {
				errs = append(errs, agentgateway.Errorf(fmt.Sprintf("%s.vips[%d]", p, j), "want network/IP, got %q", v))
			}
		}
		if !s.Waypoint.IsZero() {
			errs = append(errs, meshField(p+".waypoint"))
		}
		if !s.LoadBalancer.IsZero() {
			errs = append(errs, meshField(p+".loadBalancer"))
		}
	}
	for i, w := range c.workloads {
		p := fmt.Sprintf("workloads[%d]", i)
		for j, ip := range w.WorkloadIPs {
			if !validIP(ip) {
				errs = append(errs, agentgateway.Errorf(fmt.Sprintf("%s.workloadIps[%d]", p, j), "%q is not an IP address", ip))
			}
		}
		switch w.Status {
		case "", "Healthy", "Unhealthy":
		default:
			errs = append(errs, agentgateway.Errorf(p+".status", "want Healthy or Unhealthy, got %q", w.Status))
		}
		switch {
		case w.Protocol != "" && w.Protocol != "TCP":
			errs = append(errs, meshField(p+".protocol"))
		case !w.Waypoint.IsZero():
			errs = append(errs, meshField(p+".waypoint"))
		case !w.NetworkGateway.IsZero():
			errs = append(errs, meshField(p+".networkGateway"))
		case len(w.AuthzPolicies) > 0:
			errs = append(errs, meshField(p+".authorizationPolicies"))
		}
		for svc, ports := range w.Services {
			if _, ok := c.byName[svc]; !ok {
				errs = append(errs, agentgateway.Errorf(p+".services."+svc, "no service %q in services (want namespace/hostname)", svc))
			}
			for port, target := range ports {
				if _, err := parsePort(port); err != nil || target < 1 || target > 65535 {
					errs = append(errs, agentgateway.Errorf(p+".services."+svc+"."+port, "want port: targetPort (1..65535)"))
				}
			}
		}
	}
	return errs
}

// meshField refuses a service or workload field that only means something inside a mesh.
func meshField(path string) error {
	return &agentgateway.ConfigError{Path: path, Err: fmt.Errorf("%w: %s", ErrUnsupported, whyMesh)}
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return p, nil
}

func validIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// endpoints returns the "ip:port" endpoints of service key at port (healthy workloads only), and
// whether to speak HTTP/2 to them; ok is false when the file defines no such service.
func (c *serviceCatalog) endpoints(key string, port int) (eps []string, http2, ok bool, err error) {
	i, found := c.byName[key]
	if !found {
		return nil, false, false, nil
	}
	s := c.services[i]
	ps := strconv.Itoa(port)
	target, hasPort := s.Ports[ps]
	if !hasPort {
		return nil, false, true, fmt.Errorf("service %s has no port %d", key, port)
	}
	if target == 0 {
		target = port
	}
	for _, w := range c.workloads {
		ports, selected := w.Services[key]
		if !selected || w.Status == "Unhealthy" {
			continue
		}
		t := target
		if wt, ok := ports[ps]; ok {
			t = wt
		}
		for _, ip := range w.WorkloadIPs {
			eps = append(eps, net.JoinHostPort(ip, strconv.Itoa(t)))
		}
	}
	proto := s.AppProtocols[ps]
	return eps, proto == "Http2" || proto == "Grpc", true, nil
}

// catalogBackend builds the backend of a service the file defines; handled is false for other names.
func catalogBackend(bc *BuildContext, ref ServiceRef) (h http.Handler, handled bool, err error) {
	c := bc.res.services
	if c == nil {
		return nil, false, nil
	}
	eps, h2, ok, err := c.endpoints(ref.Name, ref.Port)
	if !ok {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, bc.Errorf("", "%w", err)
	}
	if len(eps) == 0 && !inferencePassthrough(bc) {
		// A service scaled to nothing is valid config; its requests get 503, as with every endpoint ejected.
		// A validated picker has nothing to choose from either.
		inferenceIdle(bc)
		if err := applyHealth(bc, &agentgateway.HTTPBackendConfig{}); err != nil {
			return nil, true, err
		}
		if err := applyTunnel(bc, &agentgateway.HTTPBackendConfig{}); err != nil {
			return nil, true, err
		}
		applyConn(bc, &agentgateway.HTTPBackendConfig{})
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			agentgateway.WriteError(w, http.StatusServiceUnavailable, "service "+ref.Name+" has no healthy endpoints")
		}), true, nil
	}
	if h, ok, err := inferencePool(bc, ref.Name, eps); ok { // an endpoint picker chooses (sections_inference.go)
		return h, true, err
	}
	cfg := agentgateway.HTTPBackendConfig{Name: ref.Name, Endpoints: eps, HTTP2: h2}
	if err := applyHealth(bc, &cfg); err != nil {
		return nil, true, err
	}
	if err := applyTunnel(bc, &cfg); err != nil {
		return nil, true, err
	}
	applyConn(bc, &cfg)
	applyDial(bc, &cfg)
	b, err := agentgateway.NewHTTPBackend(cfg)
	if err != nil {
		return nil, true, bc.Errorf("", "%w", err)
	}
	return b, true, nil
}
