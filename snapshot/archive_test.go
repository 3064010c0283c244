package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
)

func testArchive(t *testing.T, state []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	meta := Meta{Version: 1, ID: "2-10-1", Index: 10, Term: 2, Size: int64(len(state)),
		Configuration: Configuration{Servers: []Server{{ID: "a", Address: "127.0.0.1:8300"}}}}
	if err := Write(&buf, meta, bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	state := make([]byte, 200_000)
	for i := range state {
		state[i] = byte(rand.N(256))
	}
	arch := testArchive(t, state)
	var got bytes.Buffer
	meta, err := Read(bytes.NewReader(arch), &got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), state) {
		t.Fatal("state differs after a round trip")
	}
	if meta.Index != 10 || meta.Term != 2 || meta.Size != int64(len(state)) || len(meta.Configuration.Servers) != 1 {
		t.Fatalf("meta = %+v", meta)
	}
}

func TestWriteRefusesWrongSize(t *testing.T) {
	err := Write(&bytes.Buffer{}, Meta{Size: 5}, strings.NewReader("abc"))
	if err == nil || !strings.Contains(err.Error(), "3 bytes") {
		t.Fatalf("err = %v", err)
	}
}

// TestReadRefusesDamage flips one bit at many positions and cuts the
// archive at many lengths: every such archive is refused.
func TestReadRefusesDamage(t *testing.T) {
	state := bytes.Repeat([]byte("meridian state "), 5000)
	arch := testArchive(t, state)
	for pos := 0; pos < len(arch); pos += max(1, len(arch)/97) {
		bad := bytes.Clone(arch)
		bad[pos] ^= 0x10
		var out bytes.Buffer
		if _, err := Read(bytes.NewReader(bad), &out); err == nil {
			// A flip that leaves the content as it was (gzip header
			// fields, deflate bits that decode the same) is harmless.
			if !bytes.Equal(out.Bytes(), state) {
				t.Errorf("bit flip at byte %d of %d: accepted with changed content", pos, len(arch))
			}
		} else if !errors.Is(err, ErrInvalid) {
			t.Errorf("bit flip at byte %d: error %v does not wrap ErrInvalid", pos, err)
		}
	}
	for n := 0; n < len(arch); n += max(1, len(arch)/53) {
		if _, err := Read(bytes.NewReader(arch[:n]), &bytes.Buffer{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("cut at %d of %d bytes: err = %v", n, len(arch), err)
		}
	}
}

func TestReadRefusesTamperedState(t *testing.T) {
	// An archive whose state was replaced while SHA256SUMS was kept is
	// refused, as is one without a sums member.
	state := []byte("original state")
	good := testArchive(t, state)
	gz, err := gzip.NewReader(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	members := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		members[h.Name] = b
	}
	build := func(m map[string][]byte) []byte {
		var buf bytes.Buffer
		gw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gw)
		for _, name := range []string{metaName, stateName, sumsName} {
			if b, ok := m[name]; ok {
				tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b))})
				tw.Write(b)
			}
		}
		tw.Close()
		gw.Close()
		return buf.Bytes()
	}
	if _, err := Read(bytes.NewReader(build(members)), &bytes.Buffer{}); err != nil {
		t.Fatalf("rebuilt intact archive refused: %v", err)
	}
	tampered := maps.Clone(members)
	tampered[stateName] = []byte("modified state")
	_, err = Read(bytes.NewReader(build(tampered)), &bytes.Buffer{})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "SHA-256 mismatch") {
		t.Fatalf("tampered state: err = %v", err)
	}
	noSums := maps.Clone(members)
	delete(noSums, sumsName)
	if _, err := Read(bytes.NewReader(build(noSums)), &bytes.Buffer{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no sums: err = %v", err)
	}
	if _, err := Read(strings.NewReader("not an archive"), &bytes.Buffer{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("garbage: err = %v", err)
	}
}
