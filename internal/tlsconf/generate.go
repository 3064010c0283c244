package tlsconf

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// CA is a certificate authority that signs agent certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertPEM and KeyPEM are the CA as written to its files.
	CertPEM, KeyPEM []byte
}

// CAOptions are `meridian tls ca create`'s settings.
type CAOptions struct {
	// Days the CA is valid (default 1825).
	Days int
	// Domain is the DNS domain of the agents (default "consul"); with
	// NameConstraint the CA may sign names under it (and localhost) only.
	Domain         string
	NameConstraint bool
	// CommonName defaults to "Meridian Agent CA <serial>".
	CommonName string
}

// CertOptions describe an agent certificate.
type CertOptions struct {
	// Server or client role: the name is server.<dc>.<domain> or
	// client.<dc>.<domain>.
	Server     bool
	Datacenter string
	Domain     string
	// Days the certificate is valid (default 365).
	Days int
	// DNSNames and IPs are added to the role's name, localhost and
	// 127.0.0.1.
	DNSNames []string
	IPs      []net.IP
}

// CreateCA generates an ECDSA P-256 CA, as Consul's `tls ca create`.
func CreateCA(o CAOptions) (*CA, error) {
	if o.Days <= 0 {
		o.Days = 1825
	}
	domain := strings.TrimSuffix(o.Domain, ".")
	if domain == "" {
		domain = "consul"
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	cn := o.CommonName
	if cn == "" {
		cn = fmt.Sprintf("Meridian Agent CA %d", serial)
	}
	skid, err := keyID(key.Public())
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Meridian"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.AddDate(0, 0, o.Days),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          skid,
		AuthorityKeyId:        skid,
	}
	if o.NameConstraint {
		tmpl.PermittedDNSDomainsCritical = true
		tmpl.PermittedDNSDomains = []string{domain, "localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// ParseCA reads a CA from its PEM certificate and key.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("CA certificate file holds no PEM certificate")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("CA certificate file holds a certificate that is not a CA")
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("CA key file holds no PEM key")
	}
	var key crypto.Signer
	switch kb.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	default:
		var k any
		k, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
		if s, ok := k.(crypto.Signer); ok {
			key = s
		} else if err == nil {
			err = errors.New("unsupported key type")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	certPub, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(pub, certPub) {
		return nil, errors.New("CA key does not match the CA certificate")
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// RoleName is the name a certificate of the role carries:
// server.<dc>.<domain> or client.<dc>.<domain>.
func (o CertOptions) RoleName() string {
	role := "client"
	if o.Server {
		role = "server"
	}
	domain := strings.TrimSuffix(o.Domain, ".")
	if domain == "" {
		domain = "consul"
	}
	return role + "." + o.Datacenter + "." + domain
}

// Sign generates an ECDSA P-256 key and a certificate for it signed by ca,
// usable to serve and to connect (ExtKeyUsage server and client auth, as
// Consul's); it returns both in PEM.
func (ca *CA) Sign(o CertOptions) (certPEM, keyPEM []byte, err error) {
	if o.Datacenter == "" {
		return nil, nil, errors.New("a datacenter is needed")
	}
	if o.Days <= 0 {
		o.Days = 365
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	name := o.RoleName()
	dns := append([]string{name, "localhost"}, o.DNSNames...)
	ips := append([]net.IP{net.ParseIP("127.0.0.1")}, o.IPs...)
	skid, err := keyID(key.Public())
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.AddDate(0, 0, o.Days),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:              dns,
		IPAddresses:           ips,
		SubjectKeyId:          skid,
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func keyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}
