package motion_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/motion-grpc/motion-grpc/clients/go/motionpb"
)

// recordingServer is a real gRPC server on a free port that answers
// DescribeComponents and Run, recording each call's metadata and request, and
// failing the first failFirst Run attempts with the given error (and trailer).
type recordingServer struct {
	motionpb.UnimplementedMotionServiceServer
	mu        sync.Mutex
	metadata  []metadata.MD
	runs      []*motionpb.RunRequest
	failFirst int
	failWith  error
	trailer   metadata.MD
	// answer is what a successful Run answers, its version set to the number of attempts.
	answer *motionpb.RunResponse
}

func (s *recordingServer) DescribeComponents(ctx context.Context, _ *motionpb.DescribeComponentsRequest) (*motionpb.DescribeComponentsResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metadata = append(s.metadata, md)
	return &motionpb.DescribeComponentsResponse{Components: []*motionpb.ComponentInfo{{Name: "Recorded"}}}, nil
}

func (s *recordingServer) Run(ctx context.Context, req *motionpb.RunRequest) (*motionpb.RunResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, req)
	if s.trailer != nil {
		_ = grpc.SetTrailer(ctx, s.trailer)
	}
	if len(s.runs) <= s.failFirst {
		return nil, s.failWith
	}
	answer := &motionpb.RunResponse{}
	if s.answer != nil {
		answer = proto.Clone(s.answer).(*motionpb.RunResponse)
	}
	answer.Version = uint64(len(s.runs))
	return answer, nil
}

func (s *recordingServer) recorded() ([]metadata.MD, []*motionpb.RunRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.metadata, s.runs
}

// serve starts impl on 127.0.0.1 and returns its address.
func serve(t *testing.T, impl motionpb.MotionServiceServer, opts ...grpc.ServerOption) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer(opts...)
	motionpb.RegisterMotionServiceServer(server, impl)
	go server.Serve(listener)
	t.Cleanup(server.Stop)
	return listener.Addr().String()
}

// pki is a throwaway CA with a server and a client certificate, as PEM files.
type pki struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
	caPool                                               *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert := issue(t, "test CA", nil, nil, true)
	p := &pki{caFile: filepath.Join(dir, "ca.pem"), caPool: x509.NewCertPool()}
	p.caPool.AddCert(caCert)
	writePEM(t, p.caFile, "CERTIFICATE", caCert.Raw)
	p.serverCert, p.serverKey = issueFiles(t, dir, "server", caKey, caCert)
	p.clientCert, p.clientKey = issueFiles(t, dir, "client", caKey, caCert)
	return p
}

func issueFiles(t *testing.T, dir, name string, caKey *ecdsa.PrivateKey, caCert *x509.Certificate) (string, string) {
	key, cert := issue(t, name, caKey, caCert, false)
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", cert.Raw)
	writePEM(t, keyFile, "EC PRIVATE KEY", der)
	return certFile, keyFile
}

// issue makes a key and a certificate for localhost, signed by parent (self-signed when nil).
func issue(t *testing.T, name string, parentKey *ecdsa.PrivateKey, parent *x509.Certificate, isCA bool) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  isCA,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	if parent == nil {
		parent, parentKey = template, key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serverTLS is the server side: its certificate, and client certificates
// required when requireClient.
func (p *pki) serverTLS(t *testing.T, requireClient bool) grpc.ServerOption {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	config := &tls.Config{Certificates: []tls.Certificate{pair}}
	if requireClient {
		config.ClientAuth, config.ClientCAs = tls.RequireAndVerifyClientCert, p.caPool
	}
	return grpc.Creds(credentials.NewTLS(config))
}
