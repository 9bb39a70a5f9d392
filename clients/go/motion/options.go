package motion

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Option configures Dial.
type Option func(*settings) error

type settings struct {
	tls           *tls.Config
	apiKey        string
	serviceConfig string
	dialOptions   []grpc.DialOption
}

// WithTLS connects over TLS, verifying the server against the PEM CA
// certificates in caFile ("" for the system roots).
func WithTLS(caFile string) Option {
	return func(s *settings) error {
		if s.tls == nil {
			s.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if caFile == "" {
			return nil
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("motion: TLS CA file: %w", err)
		}
		s.tls.RootCAs = x509.NewCertPool()
		if !s.tls.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("motion: TLS CA file %s holds no PEM certificate", caFile)
		}
		return nil
	}
}

// WithClientCertificate presents a client certificate (mTLS, for a server
// started with --tls-client-ca). It implies TLS.
func WithClientCertificate(certFile, keyFile string) Option {
	return func(s *settings) error {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("motion: client certificate: %w", err)
		}
		if s.tls == nil {
			s.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		s.tls.Certificates = []tls.Certificate{pair}
		return nil
	}
}

// WithTLSConfig connects over TLS with a configuration of the caller's.
func WithTLSConfig(config *tls.Config) Option {
	return func(s *settings) error { s.tls = config.Clone(); return nil }
}

// WithAPIKey sends key (an API key or an instance token) as
// "authorization: Bearer KEY" on every call.
func WithAPIKey(key string) Option {
	return func(s *settings) error {
		if key == "" {
			return errors.New("motion: empty API key")
		}
		s.apiKey = key
		return nil
	}
}

// WithServiceConfig replaces the default service config (DefaultServiceConfig:
// retries of UNAVAILABLE for the idempotent RPCs and Run) with this JSON; ""
// turns retries off.
func WithServiceConfig(config string) Option {
	return func(s *settings) error { s.serviceConfig = config; return nil }
}

// WithDialOptions passes gRPC dial options through (interceptors, keepalive...).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(s *settings) error { s.dialOptions = append(s.dialOptions, opts...); return nil }
}

// WithLoadBalancing adds a load-balancing policy ("round_robin" over a headless
// Service's DNS records, say) to the service config, keeping its retry policy:
// a service config of your own through WithDialOptions would replace it. Give it
// after WithServiceConfig, which replaces the whole config.
func WithLoadBalancing(policy string) Option {
	return func(s *settings) error {
		if s.serviceConfig == "" {
			s.serviceConfig = "{}"
		}
		var config map[string]any
		if err := json.Unmarshal([]byte(s.serviceConfig), &config); err != nil {
			return fmt.Errorf("motion: the service config is not JSON: %w", err)
		}
		config["loadBalancingConfig"] = []any{map[string]any{policy: map[string]any{}}}
		merged, err := json.Marshal(config)
		if err != nil {
			return err
		}
		s.serviceConfig = string(merged)
		return nil
	}
}

// MaxReceiveBytes is the largest response a client takes unless its dial options say otherwise.
const MaxReceiveBytes = 64 << 20

// grpcOptions turns the settings into dial options: transport, key, service config.
func (s *settings) grpcOptions() []grpc.DialOption {
	transport := insecure.NewCredentials()
	if s.tls != nil {
		transport = credentials.NewTLS(s.tls)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(transport),
		// Above the server's --max-message-bytes (8 MiB by default): a large answer or state is
		// never refused here after its run took effect. A caller's dial options come later and win.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxReceiveBytes)),
	}
	if s.apiKey != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{key: s.apiKey, secure: s.tls != nil}))
	}
	if s.serviceConfig != "" {
		opts = append(opts, grpc.WithDefaultServiceConfig(s.serviceConfig))
	} else {
		opts = append(opts, grpc.WithDisableServiceConfig())
	}
	return append(opts, s.dialOptions...)
}

// bearer sends the API key as call credentials.
type bearer struct {
	key    string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.key}, nil
}

// RequireTransportSecurity lets a key travel in plaintext only when the
// connection is plaintext by the caller's choice (a loopback or a mesh).
func (b bearer) RequireTransportSecurity() bool { return b.secure }
