package cel

import (
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"

	celgo "github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// agentLib is the functions and macros agentgateway documents beyond standard CEL and cel-go's
// extensions (strings, encoders, lists, sets, math), so that its expressions compile and mean the
// same here. doc.go lists each with an example.
type agentLib struct{}

func (agentLib) LibraryName() string { return "agentgateway" }

var (
	ipType   = types.NewOpaqueType("net.IP")
	cidrType = types.NewOpaqueType("net.CIDR")
)

func (agentLib) CompileOptions() []celgo.EnvOption {
	return []celgo.EnvOption{
		celgo.OptionalTypes(),
		celgo.Macros(
			// default(x, fallback): x, or fallback when x (a field or key chain) is absent.
			celgo.GlobalMacro("default", 2, expandDefault),
			// x.with(v, expr): expr with v bound to x (evaluated once).
			celgo.ReceiverMacro("with", 2, expandWith),
		),
		celgo.Function("json",
			celgo.Overload("json_string", []*celgo.Type{celgo.StringType}, celgo.DynType,
				celgo.UnaryBinding(func(v ref.Val) ref.Val { return parseJSON([]byte(v.(types.String))) })),
			celgo.Overload("json_bytes", []*celgo.Type{celgo.BytesType}, celgo.DynType,
				celgo.UnaryBinding(func(v ref.Val) ref.Val { return parseJSON([]byte(v.(types.Bytes))) }))),
		celgo.Function("toJson",
			celgo.Overload("toJson_dyn", []*celgo.Type{celgo.DynType}, celgo.StringType, celgo.UnaryBinding(toJSON))),
		celgo.Function("to_json",
			celgo.Overload("to_json_dyn", []*celgo.Type{celgo.DynType}, celgo.StringType, celgo.UnaryBinding(toJSON))),
		celgo.Function("random",
			celgo.Overload("random", nil, celgo.DoubleType,
				celgo.FunctionBinding(func(...ref.Val) ref.Val { return types.Double(rand.Float64()) }))),
		celgo.Function("uuid",
			celgo.Overload("uuid", nil, celgo.StringType,
				celgo.FunctionBinding(func(...ref.Val) ref.Val { return types.String(uuid4()) }))),
		celgo.Function("ip",
			celgo.Overload("ip_string", []*celgo.Type{celgo.StringType}, ipType, celgo.UnaryBinding(parseIP))),
		celgo.Function("cidr",
			celgo.Overload("cidr_string", []*celgo.Type{celgo.StringType}, cidrType, celgo.UnaryBinding(parseCIDR))),
		celgo.Function("isIP",
			celgo.Overload("isIP_string", []*celgo.Type{celgo.StringType}, celgo.BoolType,
				celgo.UnaryBinding(func(v ref.Val) ref.Val {
					_, err := netip.ParseAddr(string(v.(types.String)))
					return types.Bool(err == nil)
				}))),
		celgo.Function("isCIDR",
			celgo.Overload("isCIDR_string", []*celgo.Type{celgo.StringType}, celgo.BoolType,
				celgo.UnaryBinding(func(v ref.Val) ref.Val {
					_, err := netip.ParsePrefix(string(v.(types.String)))
					return types.Bool(err == nil)
				}))),
		celgo.Function("containsIP",
			celgo.MemberOverload("cidr_containsIP_ip", []*celgo.Type{cidrType, ipType}, celgo.BoolType,
				celgo.BinaryBinding(func(c, i ref.Val) ref.Val {
					return types.Bool(c.(cidrVal).v.Contains(i.(ipVal).v))
				})),
			celgo.MemberOverload("cidr_containsIP_string", []*celgo.Type{cidrType, celgo.StringType}, celgo.BoolType,
				celgo.BinaryBinding(func(c, s ref.Val) ref.Val {
					a, err := netip.ParseAddr(string(s.(types.String)))
					if err != nil {
						return types.NewErr("containsIP: %v", err)
					}
					return types.Bool(c.(cidrVal).v.Contains(a.Unmap()))
				}))),
		celgo.Function("family",
			celgo.MemberOverload("ip_family", []*celgo.Type{ipType}, celgo.IntType,
				celgo.UnaryBinding(func(v ref.Val) ref.Val {
					if v.(ipVal).v.Is4() {
						return types.Int(4)
					}
					return types.Int(6)
				}))),
		celgo.Function("isLoopback",
			celgo.MemberOverload("ip_isLoopback", []*celgo.Type{ipType}, celgo.BoolType,
				celgo.UnaryBinding(func(v ref.Val) ref.Val { return types.Bool(v.(ipVal).v.IsLoopback()) }))),
		celgo.Function("prefixLength",
			celgo.MemberOverload("cidr_prefixLength", []*celgo.Type{cidrType}, celgo.IntType,
				celgo.UnaryBinding(func(v ref.Val) ref.Val { return types.Int(v.(cidrVal).v.Bits()) }))),
		celgo.Function("string",
			celgo.Overload("string_ip", []*celgo.Type{ipType}, celgo.StringType,
				celgo.UnaryBinding(func(v ref.Val) ref.Val { return types.String(v.(ipVal).v.String()) })),
			celgo.Overload("string_cidr", []*celgo.Type{cidrType}, celgo.StringType,
				celgo.UnaryBinding(func(v ref.Val) ref.Val { return types.String(v.(cidrVal).v.String()) }))),
	}
}

func (agentLib) ProgramOptions() []celgo.ProgramOption { return nil }

// expandDefault rewrites default(a.b["c"], f) to a.?b[?"c"].orValue(f): each selection and index
// of the chain becomes optional, so a missing field, key or null-free map yields f instead of an
// error. A first argument that is not a chain is used as it is.
func expandDefault(mef celgo.MacroExprFactory, _ ast.Expr, args []ast.Expr) (ast.Expr, *celgo.Error) {
	chain, changed := optionalChain(mef, args[0])
	if !changed {
		chain = mef.NewCall("optional.of", chain)
	}
	return mef.NewMemberCall("orValue", chain, args[1]), nil
}

func optionalChain(mef celgo.MacroExprFactory, e ast.Expr) (ast.Expr, bool) {
	switch e.Kind() {
	case ast.SelectKind:
		s := e.AsSelect()
		if s.IsTestOnly() {
			return e, false
		}
		op, _ := optionalChain(mef, s.Operand())
		return mef.NewCall(operators.OptSelect, op, mef.NewLiteral(types.String(s.FieldName()))), true
	case ast.CallKind:
		c := e.AsCall()
		if c.FunctionName() == operators.Index && len(c.Args()) == 2 {
			op, _ := optionalChain(mef, c.Args()[0])
			return mef.NewCall(operators.OptIndex, op, c.Args()[1]), true
		}
	}
	return e, false
}

// expandWith rewrites x.with(v, expr) as cel.bind does: a comprehension over nothing whose
// accumulator v holds x.
func expandWith(mef celgo.MacroExprFactory, target ast.Expr, args []ast.Expr) (ast.Expr, *celgo.Error) {
	if args[0].Kind() != ast.IdentKind {
		return nil, mef.NewError(args[0].ID(), "with(): the variable must be a simple identifier")
	}
	v := args[0].AsIdent()
	return mef.NewComprehension(mef.NewList(), "#unused", v, target, mef.NewLiteral(types.False), mef.NewIdent(v), args[1]), nil
}

func parseJSON(b []byte) ref.Val {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return types.NewErr("json: %v", err)
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}

func toJSON(v ref.Val) ref.Val {
	native, err := nativeOf(v)
	if err != nil {
		return types.NewErr("toJson: %v", err)
	}
	b, err := json.Marshal(native)
	if err != nil {
		return types.NewErr("toJson: %v", err)
	}
	return types.String(b)
}

// nativeOf converts a CEL value to plain Go values (maps, slices, scalars) for encoding/json.
func nativeOf(v ref.Val) (any, error) {
	switch x := v.(type) {
	case traits.Mapper:
		out := map[string]any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			val, err := nativeOf(x.Get(k))
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k.Value())] = val
		}
		return out, nil
	case traits.Lister:
		var out []any
		for it := x.Iterator(); it.HasNext() == types.True; {
			val, err := nativeOf(it.Next())
			if err != nil {
				return nil, err
			}
			out = append(out, val)
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	case types.Null:
		return nil, nil
	case types.Bytes:
		return []byte(x), nil
	case ipVal:
		return x.v.String(), nil
	case cidrVal:
		return x.v.String(), nil
	case *types.Err:
		return nil, x
	}
	return v.Value(), nil
}

func uuid4() string {
	var b [16]byte
	_, _ = cryptoRead(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

var cryptoRead = crand.Read

// netVal is the opaque CEL value of ip() (netip.Addr) and cidr() (netip.Prefix).
type netVal[T interface {
	comparable
	String() string
}] struct {
	v   T
	typ *types.Type
}

type ipVal = netVal[netip.Addr]
type cidrVal = netVal[netip.Prefix]

func parseIP(v ref.Val) ref.Val {
	a, err := netip.ParseAddr(string(v.(types.String)))
	if err != nil {
		return types.NewErr("ip: %v", err)
	}
	return ipVal{a.Unmap(), ipType}
}

func parseCIDR(v ref.Val) ref.Val {
	p, err := netip.ParsePrefix(string(v.(types.String)))
	if err != nil {
		return types.NewErr("cidr: %v", err)
	}
	return cidrVal{p.Masked(), cidrType}
}

func (v netVal[T]) ConvertToNative(t reflect.Type) (any, error) {
	if t.Kind() == reflect.String {
		return v.v.String(), nil
	}
	return nil, fmt.Errorf("%s: no conversion to %v", v.typ.TypeName(), t)
}

func (v netVal[T]) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.StringType:
		return types.String(v.v.String())
	case types.TypeType:
		return v.typ
	}
	return types.NewErr("%s: no conversion to %v", v.typ.TypeName(), t)
}

func (v netVal[T]) Equal(o ref.Val) ref.Val {
	w, ok := o.(netVal[T])
	return types.Bool(ok && w.v == v.v)
}

func (v netVal[T]) Type() ref.Type { return v.typ }
func (v netVal[T]) Value() any     { return v.v }
