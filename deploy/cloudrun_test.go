package deploy_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// cloudRunService is the part of a Cloud Run service YAML the probe
// check reads.
type cloudRunService struct {
	Spec struct {
		Template struct {
			Spec struct {
				Containers []struct {
					Name  string `yaml:"name"`
					Image string `yaml:"image"`
					Ports []struct {
						ContainerPort int `yaml:"containerPort"`
					} `yaml:"ports"`
					Env []struct {
						Name  string `yaml:"name"`
						Value string `yaml:"value"`
					} `yaml:"env"`
					StartupProbe *struct {
						HTTPGet *struct {
							Path string `yaml:"path"`
							Port int    `yaml:"port"`
						} `yaml:"httpGet"`
						TCPSocket *struct {
							Port int `yaml:"port"`
						} `yaml:"tcpSocket"`
					} `yaml:"startupProbe"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// Every slinkerd container's startup probe targets a port it serves, not
// on loopback only, and an HTTP probe asks the admin server's /ready:
// a probe at a port nothing serves keeps the revision from ever starting
// (issue 15).
func TestCloudRunProbesTargetServedPorts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("cloudrun", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var svc cloudRunService
		require.NoError(t, yaml.Unmarshal(b, &svc), f)
		checked := 0
		for _, c := range svc.Spec.Template.Spec.Containers {
			if !strings.Contains(c.Image, "slinkerd:") || c.StartupProbe == nil {
				continue
			}
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
			served := map[int]string{} // port -> host it listens on
			admin := listenPort(t, env["SLINKERD_ADMIN_LISTEN"], "127.0.0.1:9990", served)
			listenPort(t, env["SLINKERD_LISTEN"], "127.0.0.1:4140", served)
			if env["SLINKERD_INGRESS_TARGET"] != "" {
				for _, p := range c.Ports { // the ingress listens on $PORT
					served[p.ContainerPort] = ""
				}
			}
			var port int
			if g := c.StartupProbe.HTTPGet; g != nil {
				port = g.Port
				assert.Equal(t, "/ready", g.Path, "%s: %s: an HTTP probe asks /ready", f, c.Name)
				assert.Equal(t, admin, port, "%s: %s: /ready is on the admin port", f, c.Name)
			} else if s := c.StartupProbe.TCPSocket; s != nil {
				port = s.Port
			}
			host, ok := served[port]
			assert.True(t, ok, "%s: %s: the probe's port %d is not served (served: %v)", f, c.Name, port, served)
			assert.NotEqual(t, "127.0.0.1", host, "%s: %s: port %d listens on loopback only, where the probe cannot reach it", f, c.Name, port)
			checked++
		}
		assert.NotZero(t, checked, "%s has no slinkerd container with a probe", f)
	}
}

// listenPort records the port of a host:port listen value (or def) in
// served and returns it.
func listenPort(t *testing.T, v, def string, served map[int]string) int {
	t.Helper()
	if v == "" {
		v = def
	}
	host, p, err := net.SplitHostPort(v)
	require.NoError(t, err, v)
	port, err := strconv.Atoi(p)
	require.NoError(t, err, v)
	served[port] = host
	return port
}
