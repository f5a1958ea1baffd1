package apicheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// light are the packages a program may import for the common case (a gateway with CORS, JWT, rules,
// an MCP federation or an A2A proxy) without linking the heavy clients.
var light = []string{".", "./policy", "./mcp", "./a2a", "./cel"}

// heavy are the module paths that only the policy subpackages that need them may link.
var heavy = []string{
	"github.com/aws/",              // AWS SDK (policy/awsauth)
	"google.golang.org/grpc",       // gRPC (policy/extauthz, policy/remoteratelimit)
	"github.com/envoyproxy/",       // Envoy protos (same)
	"golang.org/x/oauth2/google",   // Google auth (policy/gcpauth)
	"cloud.google.com/",            // GCE metadata (same)
	"github.com/cncf/xds/",         // pulled in by the Envoy protos
	"github.com/aws/smithy-go",     // AWS SDK runtime
	"google.golang.org/api/",       // Google API clients
	"github.com/googleapis/gax-go", // Google API runtime
}

func goCmd(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = moduleRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v (the go command is needed for this test)", err)
	}
	return strings.TrimSpace(string(out))
}

func isHeavy(path string) bool {
	for _, h := range heavy {
		if strings.HasPrefix(path, h) {
			return true
		}
	}
	return false
}

// TestLightPackagesLinkNoHeavyClients fails when a light package imports, directly or not, a cloud
// SDK, gRPC or the Envoy protos: they belong in the policy subpackages (extauthz, remoteratelimit,
// awsauth, gcpauth) that config wires. It names each import that crosses into a heavy module.
func TestLightPackagesLinkNoHeavyClients(t *testing.T) {
	for _, pkg := range light {
		out := goCmd(t, "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", pkg)
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if isHeavy(f[0]) {
				continue
			}
			for _, imp := range f[1:] {
				if isHeavy(imp) {
					t.Errorf("%s links a heavy client: %s imports %s", pkg, f[0], imp)
				}
			}
		}
	}
}

// TestIsHeavy keeps the matcher honest: the check above can only fail if it recognises the modules.
func TestIsHeavy(t *testing.T) {
	for _, p := range []string{"github.com/aws/aws-sdk-go-v2/config", "google.golang.org/grpc/codes", "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3", "golang.org/x/oauth2/google", "cloud.google.com/go/compute/metadata"} {
		if !isHeavy(p) {
			t.Errorf("%s should count as heavy", p)
		}
	}
	for _, p := range []string{"golang.org/x/oauth2", "github.com/google/cel-go/cel", "google.golang.org/protobuf/proto", "github.com/agentgw/agentgateway/policy"} {
		if isHeavy(p) {
			t.Errorf("%s should not count as heavy", p)
		}
	}
}

type listed struct {
	ImportPath string
	Export     string
	Standard   bool
	Module     *struct{ Path string }
}

// TestNoInternalTypesInExportedAPI fails when an exported function, method, field, variable or type of
// a public package of the module mentions a type of an internal package (ours or a dependency's):
// users could not name it, and the package would leak what it means to hide.
func TestNoInternalTypesInExportedAPI(t *testing.T) {
	out := goCmd(t, "list", "-export", "-deps", "-json=ImportPath,Export,Standard,Module", "./...")
	exports := map[string]string{}
	var ours []string
	dec := json.NewDecoder(bytes.NewReader(out))
	mod := strings.TrimSpace(string(goCmd(t, "list", "-m")))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		exports[p.ImportPath] = p.Export
		if p.Module != nil && p.Module.Path == mod && !isInternal(p.ImportPath) {
			ours = append(ours, p.ImportPath)
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	})
	if len(ours) < 5 {
		t.Fatalf("found only %v", ours)
	}
	for _, path := range ours {
		pkg, err := imp.Import(path)
		if err != nil {
			t.Fatal(err)
		}
		c := &checker{pkg: pkg, seen: map[types.Type]bool{}}
		c.pkgAPI()
		for _, v := range c.violations {
			t.Errorf("%s: %s", path, v)
		}
	}
}

func TestCheckerFindsInternalTypes(t *testing.T) {
	internalPkg := types.NewPackage("example.com/m/internal/x", "x")
	hidden := types.NewNamed(types.NewTypeName(token.NoPos, internalPkg, "Hidden", nil), types.NewStruct(nil, nil), nil)
	pub := types.NewPackage("example.com/m/pub", "pub")
	sig := types.NewSignatureType(nil, nil, nil, types.NewTuple(types.NewParam(token.NoPos, pub, "h", types.NewPointer(hidden))), nil, false)
	pub.Scope().Insert(types.NewFunc(token.NoPos, pub, "Use", sig))
	pub.Scope().Insert(types.NewFunc(token.NoPos, pub, "hide", sig))
	c := &checker{pkg: pub, seen: map[types.Type]bool{}}
	c.pkgAPI()
	if len(c.violations) != 1 || !strings.Contains(c.violations[0], "Use") {
		t.Fatalf("want one violation in Use, got %v", c.violations)
	}
}

func isInternal(path string) bool {
	for _, seg := range strings.Split(path, "/") {
		if seg == "internal" {
			return true
		}
	}
	return false
}

type checker struct {
	pkg        *types.Package
	seen       map[types.Type]bool
	violations []string
}

func (c *checker) pkgAPI() {
	scope := c.pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		switch o := obj.(type) {
		case *types.TypeName:
			if o.IsAlias() {
				c.typ(name, types.Unalias(o.Type()))
				continue
			}
			c.named(name, o.Type())
		default:
			c.typ(name, obj.Type())
		}
	}
}

// named checks a type of the package: what its exported fields and methods expose.
func (c *checker) named(where string, t types.Type) {
	if c.seen[t] {
		return
	}
	c.seen[t] = true
	n, ok := t.(*types.Named)
	if !ok {
		c.typ(where, t)
		return
	}
	c.typ(where, n.Underlying())
	for i := 0; i < n.NumMethods(); i++ {
		if m := n.Method(i); m.Exported() {
			c.typ(where+"."+m.Name(), m.Type())
		}
	}
}

func (c *checker) typ(where string, t types.Type) {
	switch t := t.(type) {
	case *types.Alias:
		c.typ(where, types.Unalias(t))
	case *types.Named:
		obj := t.Obj()
		if obj.Pkg() != nil && isInternal(obj.Pkg().Path()) {
			c.violations = append(c.violations, fmt.Sprintf("%s mentions %s.%s", where, obj.Pkg().Path(), obj.Name()))
			return
		}
		if ta := t.TypeArgs(); ta != nil {
			for i := 0; i < ta.Len(); i++ {
				c.typ(where, ta.At(i))
			}
		}
		// An unexported type of the package that the API hands out exposes its own exported surface.
		if obj.Pkg() == c.pkg && !obj.Exported() {
			c.named(where, t)
		}
	case *types.Pointer:
		c.typ(where, t.Elem())
	case *types.Slice:
		c.typ(where, t.Elem())
	case *types.Array:
		c.typ(where, t.Elem())
	case *types.Chan:
		c.typ(where, t.Elem())
	case *types.Map:
		c.typ(where, t.Key())
		c.typ(where, t.Elem())
	case *types.Signature:
		c.tuple(where, t.Params())
		c.tuple(where, t.Results())
	case *types.Struct:
		for i := 0; i < t.NumFields(); i++ {
			if f := t.Field(i); f.Exported() || f.Embedded() {
				c.typ(where+"."+f.Name(), f.Type())
			}
		}
	case *types.Interface:
		for i := 0; i < t.NumExplicitMethods(); i++ {
			if m := t.ExplicitMethod(i); m.Exported() {
				c.typ(where+"."+m.Name(), m.Type())
			}
		}
		for i := 0; i < t.NumEmbeddeds(); i++ {
			c.typ(where, t.EmbeddedType(i))
		}
	case *types.TypeParam:
		c.typ(where, t.Constraint())
	case *types.Union:
		for i := 0; i < t.Len(); i++ {
			c.typ(where, t.Term(i).Type())
		}
	}
}

func (c *checker) tuple(where string, tu *types.Tuple) {
	for i := 0; i < tu.Len(); i++ {
		c.typ(where, tu.At(i).Type())
	}
}
