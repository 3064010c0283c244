package snapshot

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"
)

// Names of the archive's members, in the order they are written.
const (
	metaName  = "meta.json"
	stateName = "state.bin"
	sumsName  = "SHA256SUMS"
)

// maxMetaSize bounds meta.json and SHA256SUMS so a corrupt header cannot
// make Read allocate without limit.
const maxMetaSize = 1 << 20

// ErrInvalid is wrapped by every error Read returns for an archive that is
// not a complete, intact snapshot archive.
var ErrInvalid = errors.New("invalid snapshot archive")

// Meta is meta.json: the metadata of the Raft snapshot the archive holds.
// Its JSON field names are hashicorp/raft's SnapshotMeta ones, as in
// Consul's archives.
type Meta struct {
	Version            int           `json:"Version"`
	ID                 string        `json:"ID"`
	Index              uint64        `json:"Index"`
	Term               uint64        `json:"Term"`
	Configuration      Configuration `json:"Configuration"`
	ConfigurationIndex uint64        `json:"ConfigurationIndex"`
	// Size is the length of state.bin in bytes.
	Size int64 `json:"Size"`
}

// Configuration is the Raft configuration the snapshot was taken in.
type Configuration struct {
	Servers []Server `json:"Servers"`
}

// Server is one member of a Configuration. Suffrage is Raft's number:
// 0 voter, 1 nonvoter, 2 staging.
type Server struct {
	Suffrage int    `json:"Suffrage"`
	ID       string `json:"ID"`
	Address  string `json:"Address"`
}

// Write writes an archive of meta and the state read from state to w.
// meta.Size must be the exact length of state; Write fails if the state
// is shorter or longer.
func Write(w io.Writer, meta Meta, state io.Reader) error {
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("snapshot: encode meta: %w", err)
	}
	gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	now := time.Now()
	header := func(name string, size int64) error {
		return tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: now, Typeflag: tar.TypeReg})
	}
	metaSum := sha256.Sum256(metaJSON)
	if err := header(metaName, int64(len(metaJSON))); err != nil {
		return fmt.Errorf("snapshot: write %s: %w", metaName, err)
	}
	if _, err := tw.Write(metaJSON); err != nil {
		return fmt.Errorf("snapshot: write %s: %w", metaName, err)
	}
	if err := header(stateName, meta.Size); err != nil {
		return fmt.Errorf("snapshot: write %s: %w", stateName, err)
	}
	stateHash := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, stateHash), state)
	if err != nil {
		return fmt.Errorf("snapshot: write %s after %d bytes: %w", stateName, n, err)
	}
	if n != meta.Size {
		return fmt.Errorf("snapshot: state is %d bytes, the metadata says %d", n, meta.Size)
	}
	sums := fmt.Sprintf("%x  %s\n%x  %s\n", metaSum[:], metaName, stateHash.Sum(nil), stateName)
	if err := header(sumsName, int64(len(sums))); err != nil {
		return fmt.Errorf("snapshot: write %s: %w", sumsName, err)
	}
	if _, err := io.WriteString(tw, sums); err != nil {
		return fmt.Errorf("snapshot: write %s: %w", sumsName, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("snapshot: close tar: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("snapshot: close gzip: %w", err)
	}
	return nil
}

// Read reads an archive from r, copies its state to state and returns its
// metadata. It returns an error wrapping ErrInvalid unless the archive is
// complete (all three members, the gzip trailer) and both sums match; the
// caller must then discard whatever was copied to state, which is why
// state is normally a temporary file.
func Read(r io.Reader, state io.Writer) (*Meta, error) {
	gz, err := gzip.NewReader(bufio.NewReaderSize(r, 64<<10))
	if err != nil {
		return nil, invalidf("not a gzip stream: %v", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	var (
		metaJSON  []byte
		sums      []byte
		stateHash hash.Hash
		stateSize int64
	)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, invalidf("read tar: %v", err)
		}
		switch h.Name {
		case metaName:
			if metaJSON, err = readSmall(tr, h); err != nil {
				return nil, err
			}
		case sumsName:
			if sums, err = readSmall(tr, h); err != nil {
				return nil, err
			}
		case stateName:
			if stateHash != nil {
				return nil, invalidf("%s appears twice", stateName)
			}
			stateHash = sha256.New()
			if stateSize, err = io.Copy(io.MultiWriter(state, stateHash), tr); err != nil {
				return nil, invalidf("read %s: %v", stateName, err)
			}
		default:
			return nil, invalidf("unexpected member %q", h.Name)
		}
	}
	// Reading the tar to its end does not read the gzip trailer (CRC and
	// length); drain it so a cut archive is noticed.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, invalidf("read gzip: %v", err)
	}
	switch {
	case metaJSON == nil:
		return nil, invalidf("%s missing", metaName)
	case stateHash == nil:
		return nil, invalidf("%s missing", stateName)
	case sums == nil:
		return nil, invalidf("%s missing", sumsName)
	}
	want, err := parseSums(sums)
	if err != nil {
		return nil, err
	}
	metaSum := sha256.Sum256(metaJSON)
	if err := checkSum(want, metaName, metaSum[:]); err != nil {
		return nil, err
	}
	if err := checkSum(want, stateName, stateHash.Sum(nil)); err != nil {
		return nil, err
	}
	var meta Meta
	if err := json.Unmarshal(metaJSON, &meta); err != nil {
		return nil, invalidf("decode %s: %v", metaName, err)
	}
	if meta.Size != stateSize {
		return nil, invalidf("%s is %d bytes, %s says %d", stateName, stateSize, metaName, meta.Size)
	}
	return &meta, nil
}

func readSmall(tr *tar.Reader, h *tar.Header) ([]byte, error) {
	if h.Size > maxMetaSize {
		return nil, invalidf("%s is %d bytes, more than %d", h.Name, h.Size, maxMetaSize)
	}
	b, err := io.ReadAll(io.LimitReader(tr, maxMetaSize+1))
	if err != nil {
		return nil, invalidf("read %s: %v", h.Name, err)
	}
	return b, nil
}

// parseSums reads sha256sum's output format: "<hex>  <name>" per line.
func parseSums(b []byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		hexSum, name, ok := strings.Cut(line, "  ")
		sum, err := hex.DecodeString(hexSum)
		if !ok || err != nil || len(sum) != sha256.Size {
			return nil, invalidf("%s: bad line %q", sumsName, line)
		}
		out[name] = sum
	}
	return out, nil
}

func checkSum(want map[string][]byte, name string, got []byte) error {
	w, ok := want[name]
	if !ok {
		return invalidf("%s has no sum for %s", sumsName, name)
	}
	if !bytes.Equal(w, got) {
		return invalidf("%s: SHA-256 mismatch (archive says %x, content is %x)", name, w, got)
	}
	return nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
