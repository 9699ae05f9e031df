package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and its
// key as PEM files, and returns their paths and a pool that trusts it.
func writeSelfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "slinkerd test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLSListener serves the proxy over TLS from SLINKERD_TLS_CERT and
// SLINKERD_TLS_KEY: HTTP/2 through ALPN h2 and HTTP/1.1 through ALPN
// http/1.1 both reach the backend.
func TestTLSListener(t *testing.T) {
	protos := make(chan int, 4)
	be := startHTTPBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos <- r.ProtoMajor
		_, _ = io.WriteString(w, "over tls")
	}))
	certFile, keyFile, pool := writeSelfSigned(t)
	p := startSlinkerd(t, map[string]string{
		"SLINKERD_DTAB": inetDtab("secure", be.Port), "SLINKERD_TLS_CERT": certFile, "SLINKERD_TLS_KEY": keyFile,
	})
	for _, tc := range []struct {
		name      string
		h2        bool
		wantProto int
	}{
		{name: "h2 via ALPN", h2: true, wantProto: 2},
		{name: "http/1.1 via ALPN", h2: false, wantProto: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := new(http.Protocols)
			ps.SetHTTP1(!tc.h2)
			ps.SetHTTP2(tc.h2)
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Protocols: ps}
			t.Cleanup(tr.CloseIdleConnections)
			req, err := http.NewRequest(http.MethodGet, "https://"+p.ProxyAddr+"/", nil)
			require.NoError(t, err)
			req.Host = "secure"
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, 200, resp.StatusCode, "l5d-err %q", resp.Header.Get("l5d-err"))
			assert.Equal(t, "over tls", string(body))
			assert.Equal(t, tc.wantProto, resp.ProtoMajor, "caller's protocol")
			// An HTTP/2 caller is forwarded over h2c, an HTTP/1.1 one over HTTP/1.1.
			assert.Equal(t, tc.wantProto, recv(t, protos, 5*time.Second, "backend request"))
		})
	}
	// Cleartext is refused on the TLS port.
	resp, err := http.Get("http://" + p.ProxyAddr + "/")
	if err == nil {
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP to the TLS port")
	}
}
