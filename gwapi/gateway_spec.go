package gwapi

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ErrAddressNotUsable is the cause of a static Gateway address the data plane cannot use.
var ErrAddressNotUsable = errors.New("address not usable")

// gatewaySpecProblem is why a Gateway as a whole is not accepted (accepted false) or, accepted, not
// programmed: spec.infrastructure.parametersRef or spec.addresses it cannot honour. Such a Gateway
// serves nothing.
type gatewaySpecProblem struct {
	accepted    bool
	reason, msg string
}

// checkGatewaySpec validates what a Gateway asks of its infrastructure. The data plane is embedded:
// no parameters kind configures it (any parametersRef is InvalidParameters, as the API says of an
// unsupported kind), and a static address must be an IP the data plane can use (AddressUsable).
// Addresses without a value are assigned by the embedder (Options.Addresses).
func (t *translator) checkGatewaySpec(gw *gwv1.Gateway) *gatewaySpecProblem {
	if inf := gw.Spec.Infrastructure; inf != nil && inf.ParametersRef != nil {
		r := inf.ParametersRef
		return &gatewaySpecProblem{reason: string(gwv1.GatewayReasonInvalidParameters),
			msg: fmt.Sprintf("infrastructure.parametersRef %s %s: no parameters kind is supported by this controller", groupKind(string(r.Group), string(r.Kind)), r.Name)}
	}
	for _, a := range gw.Spec.Addresses {
		if a.Type != nil && *a.Type != gwv1.IPAddressType {
			return &gatewaySpecProblem{reason: string(gwv1.GatewayReasonUnsupportedAddress),
				msg: fmt.Sprintf("address %q: type %s is not supported (only %s)", a.Value, *a.Type, gwv1.IPAddressType)}
		}
		if a.Value == "" {
			continue
		}
		if _, err := netip.ParseAddr(a.Value); err != nil {
			return &gatewaySpecProblem{reason: string(gwv1.GatewayReasonUnsupportedAddress),
				msg: fmt.Sprintf("address %q is not an IP address", a.Value)}
		}
	}
	usable := t.opts.AddressUsable
	if usable == nil {
		usable = func(gw *gwv1.Gateway, ip string) error {
			if t.opts.Addresses != nil {
				for _, a := range t.opts.Addresses(gw) {
					if a.Value == ip { // the embedder says clients reach the Gateway there
						return nil
					}
				}
			}
			return bindable(ip)
		}
	}
	for _, a := range gw.Spec.Addresses {
		if a.Value == "" {
			continue
		}
		if err := usable(gw, a.Value); err != nil {
			return &gatewaySpecProblem{accepted: true, reason: string(gwv1.GatewayReasonAddressNotUsable),
				msg: fmt.Sprintf("address %s: %v", a.Value, err)}
		}
	}
	return nil
}

// bindable reports whether this process can listen on ip.
func bindable(ip string) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAddressNotUsable, err)
	}
	return ln.Close()
}

// staticAddresses are a Gateway's spec.addresses with values, as status addresses.
func staticAddresses(gw *gwv1.Gateway) []gwv1.GatewayStatusAddress {
	var out []gwv1.GatewayStatusAddress
	for _, a := range gw.Spec.Addresses {
		if a.Value != "" {
			out = append(out, gwv1.GatewayStatusAddress{Type: ptr(gwv1.IPAddressType), Value: a.Value})
		}
	}
	return out
}

// specStatus applies a spec problem to a Gateway's status conditions and addresses: Accepted=False
// (or, accepted, Programmed=False) with its reason, its listeners not Programmed; no addresses are
// assigned then. Valid static
// addresses are the status addresses.
func (gs *gatewayState) specStatus(st *gwv1.GatewayStatus) {
	gen := gs.gw.Generation
	if p := gs.problem; p != nil {
		st.Addresses = nil
		for i, c := range st.Conditions {
			switch {
			case c.Type == string(gwv1.GatewayConditionAccepted) && !p.accepted:
				st.Conditions[i] = cond(c.Type, false, p.reason, p.msg, gen)
			case c.Type == string(gwv1.GatewayConditionProgrammed):
				reason := p.reason
				if !p.accepted {
					reason = string(gwv1.GatewayReasonInvalid)
				}
				st.Conditions[i] = cond(c.Type, false, reason, p.msg, gen)
			}
		}
		// Its listeners are not programmed either: the Gateway serves nothing.
		for i := range st.Listeners {
			conds := slices.Clone(st.Listeners[i].Conditions)
			for j, c := range conds {
				if c.Type == string(gwv1.ListenerConditionProgrammed) {
					conds[j] = cond(c.Type, false, string(gwv1.ListenerReasonInvalid), p.msg, gen)
				}
			}
			st.Listeners[i].Conditions = conds
		}
		return
	}
	if s := staticAddresses(gs.gw); len(s) > 0 {
		st.Addresses = s
	}
}
