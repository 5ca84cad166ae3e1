package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server serves the API over TLS until its context ends. It is a
// controller-runtime manager.Runnable.
type Server struct {
	Addr    string
	Handler http.Handler
	// TLS must hold a certificate (GetCertificate or Certificates).
	TLS    *tls.Config
	Logger *slog.Logger

	// listening, if set, is told the bound address (tests bind ":0").
	listening func(net.Addr)
}

// OnListen sets a function told the bound address once listening.
func (s *Server) OnListen(fn func(net.Addr)) { s.listening = fn }

// NeedLeaderElection: every replica serves the API.
func (s *Server) NeedLeaderElection() bool { return false }

// Start listens and serves until ctx ends, then shuts down gracefully.
func (s *Server) Start(ctx context.Context) error {
	if s.TLS == nil {
		return errors.New("api server: no TLS configuration: Redline serves its API over TLS only")
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("api server: listen on %s: %w", s.Addr, err)
	}
	tlsConf := s.TLS.Clone()
	tlsConf.MinVersion = tls.VersionTLS12
	srv := &http.Server{
		Handler:           s.Handler,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if s.listening != nil {
		s.listening(ln.Addr())
	}
	logger.Info("api server listening", "address", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("api server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("api server shutdown: %w", err)
	}
	return nil
}
