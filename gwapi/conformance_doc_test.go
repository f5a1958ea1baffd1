package gwapi_test

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/gwapi"
	"k8s.io/apimachinery/pkg/types"
)

// viaDocument reports whether the conformance suite runs the data plane compiled from the
// translation's SchemaDocument, as the replicas of --xds-serve do: the default (AGW_GWAPI_VIA=
// document), so that conformance proves the path users deploy. AGW_GWAPI_VIA=runtime serves the
// translation's own runtime objects instead (the in-process data plane of agentgateway-kube).
func viaDocument() bool { return os.Getenv("AGW_GWAPI_VIA") != "runtime" }

// documentPlane serves each Gateway from its own schema document, on the path a replica takes:
// SchemaDocumentFor -> xDS resources (xds.FromYAML) -> the document the replica reassembles ->
// config.Load and Build -> Apply. Each Gateway has its own address (its own deployment), hence its
// own document.
type documentPlane struct {
	rt   *gwapi.Runtime
	dial config.DialFunc
	// release takes the translation's own runtime objects, which serve nothing here.
	release gwapi.ReleasePlane

	mu    sync.Mutex
	built map[types.NamespacedName]*config.Runtime
	docs  map[types.NamespacedName]string // the document each Gateway serves
}

func (d *documentPlane) publish(res *gwapi.Result) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.built == nil {
		d.built = map[types.NamespacedName]*config.Runtime{}
	}
	var errs []error
	if d.docs == nil {
		d.docs = map[types.NamespacedName]string{}
	}
	for key := range res.Configs {
		// A replica rebuilds only when its resources change (the xDS server sends only changes); a
		// retranslation that leaves a Gateway's document as it was leaves its connections alone.
		doc, err := gwapi.SchemaDocumentFor(res, key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if d.docs[key] == string(doc) && d.built[key] != nil {
			continue
		}
		rt, err := d.compile(res, key)
		if err != nil {
			errs = append(errs, fmt.Errorf("gateway %s: %w", key, err))
			continue
		}
		if err := d.rt.Apply(key, &rt.Config); err != nil {
			_ = rt.Close()
			errs = append(errs, fmt.Errorf("gateway %s: %w", key, err))
			continue
		}
		if old := d.built[key]; old != nil {
			_ = old.Close()
		}
		d.built[key], d.docs[key] = rt, string(doc)
	}
	for key, old := range d.built {
		if _, ok := res.Configs[key]; !ok {
			errs = append(errs, d.rt.Apply(key, nil), old.Close())
			delete(d.built, key)
			delete(d.docs, key)
		}
	}
	return errors.Join(errs...)
}

func (d *documentPlane) compile(res *gwapi.Result, key types.NamespacedName) (*config.Runtime, error) {
	rt, doc, err := compileDocument(res, d.dial, key) // schema_test.go
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, doc)
	}
	return rt, nil
}

func (d *documentPlane) close() {
	_ = d.release.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, rt := range d.built {
		_ = rt.Close()
	}
	d.built = nil
}
