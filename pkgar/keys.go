package pkgar

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/redox-cook/cook/internal/fsutil"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"
)

// Key file names, as upstream's pkgar-keys and the cookbook use them.
const (
	SecretKeyFile = "id_ed25519.toml"
	PublicKeyFile = "id_ed25519.pub.toml"
)

// PublicKey is an Ed25519 public key.
type PublicKey [32]byte

func (k PublicKey) String() string { return hex.EncodeToString(k[:]) }

// SecretKey is an unencrypted Ed25519 signing key.
type SecretKey struct {
	priv ed25519.PrivateKey // seed ‖ public key, NaCl's 64-byte layout
}

// NewSecretKey derives a key from a 32-byte seed.
func NewSecretKey(seed []byte) (*SecretKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("ed25519 seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return &SecretKey{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// GenerateSecretKey returns a fresh random key.
func GenerateSecretKey() (*SecretKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating ed25519 key: %w", err)
	}
	return &SecretKey{priv: priv}, nil
}

// Public returns the public half of k.
func (k *SecretKey) Public() PublicKey {
	var p PublicKey
	copy(p[:], k.priv[32:])
	return p
}

func (k *SecretKey) sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

type secretKeyTOML struct {
	Salt  string `toml:"salt"`
	Nonce string `toml:"nonce"`
	Skey  string `toml:"skey"`
}

type publicKeyTOML struct {
	Pkey string `toml:"pkey"`
	Skey string `toml:"skey"` // only to recognise a secret key file given by mistake
}

// MarshalSecretKey returns k in upstream's id_ed25519.toml format
// (unencrypted: salt and nonce are random and unused, skey is the 64-byte
// NaCl secret key in hex).
func MarshalSecretKey(k *SecretKey) ([]byte, error) {
	salt := make([]byte, 32)
	nonce := make([]byte, 24)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "salt = %q\nnonce = %q\nskey = %q\n",
		hex.EncodeToString(salt), hex.EncodeToString(nonce), hex.EncodeToString(k.priv)), nil
}

// MarshalPublicKey returns k in upstream's id_ed25519.pub.toml format.
func MarshalPublicKey(k PublicKey) []byte {
	return fmt.Appendf(nil, "pkey = %q\n", k.String())
}

// ParseSecretKey parses an id_ed25519.toml. Encrypted keys (80-byte skey)
// are refused: cook never writes them and has no passphrase prompt.
func ParseSecretKey(data []byte) (*SecretKey, error) {
	var f secretKeyTOML
	if _, err := toml.Decode(string(data), &f); err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(f.Skey)
	if err != nil {
		return nil, fmt.Errorf("skey: %w", err)
	}
	switch len(raw) {
	case ed25519.PrivateKeySize:
	case 80:
		return nil, errors.New("skey is encrypted with a passphrase; cook needs an unencrypted key (pkgar-keys rencrypt with an empty passphrase)")
	default:
		return nil, fmt.Errorf("skey is %d bytes, want 64", len(raw))
	}
	k, err := NewSecretKey(raw[:32])
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(k.priv[32:], raw[32:]) {
		return nil, errors.New("skey: public half does not match the seed")
	}
	return k, nil
}

// ParsePublicKey parses an id_ed25519.pub.toml.
func ParsePublicKey(data []byte) (PublicKey, error) {
	var f publicKeyTOML
	var k PublicKey
	if _, err := toml.Decode(string(data), &f); err != nil {
		return k, err
	}
	if f.Pkey == "" && f.Skey != "" {
		return k, errors.New("this is a secret key file (skey); a public key file (id_ed25519.pub.toml, pkey) is needed")
	}
	if f.Pkey == "" {
		return k, errors.New("no pkey")
	}
	raw, err := hex.DecodeString(f.Pkey)
	if err != nil {
		return k, fmt.Errorf("pkey: %w", err)
	}
	if len(raw) != len(k) {
		return k, fmt.Errorf("pkey is %d bytes, want 32", len(raw))
	}
	copy(k[:], raw)
	return k, nil
}

// maxKeyFileSize bounds a key file (a few lines). Key files are read as
// regular files only: a FIFO would block past Ctrl-C.
const maxKeyFileSize = 64 << 10

// LoadSecretKey reads an id_ed25519.toml file.
func LoadSecretKey(path string) (*SecretKey, error) {
	data, _, err := fsutil.ReadRegular(path, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	k, err := ParseSecretKey(data)
	if err != nil {
		return nil, fmt.Errorf("secret key %s: %w", path, err)
	}
	return k, nil
}

// LoadPublicKey reads an id_ed25519.pub.toml file.
func LoadPublicKey(path string) (PublicKey, error) {
	data, _, err := fsutil.ReadRegular(path, maxKeyFileSize)
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key: %w", err)
	}
	k, err := ParsePublicKey(data)
	if err != nil {
		return k, fmt.Errorf("public key %s: %w", path, err)
	}
	return k, nil
}

// EnsureKeys loads the key pair in dir (id_ed25519.toml and
// id_ed25519.pub.toml), creating an unencrypted pair on first use. It is safe
// to call from several processes at once: the secret key is created with an
// atomic link, so all callers end up with the same key. A missing public key
// file is rewritten from the secret key.
func EnsureKeys(dir string) (*SecretKey, error) {
	secPath := filepath.Join(dir, SecretKeyFile)
	k, err := LoadSecretKey(secPath)
	if errors.Is(err, fs.ErrNotExist) {
		k, err = createSecretKey(dir, secPath)
	}
	if err != nil {
		return nil, err
	}
	pubPath := filepath.Join(dir, PublicKeyFile)
	want := MarshalPublicKey(k.Public())
	if have, err := os.ReadFile(pubPath); err == nil && bytes.Equal(have, want) {
		return k, nil
	}
	if err := fsutil.WriteFileAtomic(pubPath, want, 0o644); err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return k, nil
}

func createSecretKey(dir, secPath string) (*SecretKey, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("key directory: %w", err)
	}
	k, err := GenerateSecretKey()
	if err != nil {
		return nil, err
	}
	data, err := MarshalSecretKey(k)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".id_ed25519-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	// link fails if another process created the key first; then use theirs.
	if err := os.Link(tmp.Name(), secPath); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return LoadSecretKey(secPath)
}
