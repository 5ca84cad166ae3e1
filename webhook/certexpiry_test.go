package webhook

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/util/cert"
)

func TestCertificateExpiry(t *testing.T) {
	dir := t.TempDir()
	c := CertificateExpiry(dir)
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Fatalf("no certificate yet: %d series, want none", n)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Fatalf("garbage certificate: %d series, want none", n)
	}
	pemCert, _, err := cert.GenerateSelfSignedCertKey("redline.redline.svc", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pemCert, 0o600); err != nil {
		t.Fatal(err)
	}
	parsed, err := cert.ParseCertsPEM(pemCert)
	if err != nil {
		t.Fatal(err)
	}
	want := parsed[0].NotAfter.Unix()
	if got := int64(testutil.ToFloat64(c)); got != want {
		t.Errorf("expiry = %d, want %d (%s)", got, want, time.Unix(want, 0))
	}
}
