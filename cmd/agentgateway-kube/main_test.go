package main

import (
	"bytes"
	"context"
	"go.uber.org/goleak"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// `agentgateway-kube` refuses bad flags with usage exit 2 and an unreadable kubeconfig with exit 1
// and the reason, before touching any cluster.
func TestKubeSubcommandErrors(t *testing.T) {
	var stderr bytes.Buffer
	require.Equal(t, 2, runKube(context.Background(), []string{"--address", "not-an-ip"}, &stderr))
	require.Contains(t, stderr.String(), `--address "not-an-ip" is not an IP address`)

	stderr.Reset()
	require.Equal(t, 2, runKube(context.Background(), []string{"extra"}, &stderr))
	require.Contains(t, stderr.String(), "unexpected arguments")

	stderr.Reset()
	bad := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(bad, []byte("not: [a kubeconfig"), 0o600))
	require.Equal(t, 1, runKube(context.Background(), []string{"--kubeconfig", bad}, &stderr))
	require.Contains(t, stderr.String(), "kubernetes config")
}

func TestKubeFlagsDefaults(t *testing.T) {
	t.Setenv("POD_IP", "10.1.2.3")
	f, err := parseKubeFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, "agentgateway.dev/gwapi", f.controllerName)
	require.Equal(t, "10.1.2.3", f.address, "the status address defaults to the pod's IP")
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
