package webhook

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CertificateExpiry is a Prometheus collector of
// redline_webhook_certificate_expiry_timestamp_seconds: when the serving
// certificate in dir (tls.crt) stops being valid, as Unix time. It reads
// the file again only when it changed (the rotator or the kubelet rewrote
// it); without a readable certificate the metric is absent, which an alert
// on it treats as missing data, not as expired.
func CertificateExpiry(dir string) prometheus.Collector {
	return &certExpiry{
		path: filepath.Join(dir, "tls.crt"),
		desc: prometheus.NewDesc("redline_webhook_certificate_expiry_timestamp_seconds",
			"Unix time at which the webhook's serving certificate expires.", nil, nil),
	}
}

type certExpiry struct {
	path string
	desc *prometheus.Desc

	mu       sync.Mutex
	modTime  time.Time
	size     int64
	notAfter time.Time
}

func (c *certExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certExpiry) Collect(ch chan<- prometheus.Metric) {
	if t, ok := c.expiry(); ok {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(t.Unix()))
	}
}

func (c *certExpiry) expiry() (time.Time, bool) {
	fi, err := os.Stat(c.path)
	if err != nil {
		return time.Time{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if fi.ModTime().Equal(c.modTime) && fi.Size() == c.size && !c.notAfter.IsZero() {
		return c.notAfter, true
	}
	data, err := os.ReadFile(c.path)
	if err != nil {
		return time.Time{}, false
	}
	// The first certificate is the serving one; the rest is its chain.
	block, _ := pem.Decode(data)
	if block == nil {
		return time.Time{}, false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, false
	}
	c.modTime, c.size, c.notAfter = fi.ModTime(), fi.Size(), cert.NotAfter
	return c.notAfter, true
}
