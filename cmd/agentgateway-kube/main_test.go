package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/agentgw/agentgateway/gwapi"
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

// --leader-elect and its Lease flags reach RunKube's options; the Lease flags alone are refused,
// since without --leader-elect they would silently do nothing.
func TestKubeLeaderElectionFlags(t *testing.T) {
	f, err := parseKubeFlags([]string{"--leader-elect", "--leader-election-namespace", "agw-system", "--leader-election-id", "agw-leader"}, &bytes.Buffer{})
	require.NoError(t, err)
	ko := kubeOptions(f, nil, slog.Default())
	require.NotNil(t, ko.LeaderElection)
	require.Equal(t, gwapi.LeaderElection{Namespace: "agw-system", ID: "agw-leader"}, *ko.LeaderElection)

	f, err = parseKubeFlags([]string{"--leader-elect"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, gwapi.LeaderElection{ID: gwapi.DefaultLeaderElectionID}, *kubeOptions(f, nil, slog.Default()).LeaderElection)

	f, err = parseKubeFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	require.Nil(t, kubeOptions(f, nil, slog.Default()).LeaderElection, "no election unless asked for")

	var stderr bytes.Buffer
	require.Equal(t, 2, runKube(context.Background(), []string{"--leader-election-namespace", "x"}, &stderr))
	require.Contains(t, stderr.String(), "need --leader-elect")
}
