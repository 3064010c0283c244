package rpc

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/proto"
)

// Framing. Each envelope on a stream (the caller's pb.RPCRequest, then the
// server's pb.RPCResponse) is a 4-byte big-endian unsigned length followed by
// that many bytes of protobuf. A fixed header lets the reader refuse an
// oversized envelope before it allocates anything.
const frameHeaderSize = 4

// DefaultMaxMessageSize is the largest envelope, in bytes without the
// header, that a Server or Pool sends or accepts unless configured.
const DefaultMaxMessageSize = 8 << 20

// frameTooLargeError reports an envelope whose length passed the limit. It
// matches ErrTooLarge.
type frameTooLargeError struct {
	size, max uint64
}

func (e *frameTooLargeError) Error() string {
	return fmt.Sprintf("%v: %d bytes, max %d", ErrTooLarge, e.size, e.max)
}

func (e *frameTooLargeError) Unwrap() error { return ErrTooLarge }

// marshalFrame encodes m with its length header. It refuses a message
// longer than maxSize with a *frameTooLargeError.
func marshalFrame(m proto.Message, maxSize int) ([]byte, error) {
	buf := make([]byte, frameHeaderSize, frameHeaderSize+proto.Size(m))
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
	if err != nil {
		return nil, fmt.Errorf("marshal envelope: %w", err)
	}
	n := len(buf) - frameHeaderSize
	if n > maxSize || uint64(n) > math.MaxUint32 {
		return nil, &frameTooLargeError{size: uint64(n), max: uint64(maxSize)}
	}
	binary.BigEndian.PutUint32(buf, uint32(n))
	return buf, nil
}

// readFrame reads one envelope into m. A length over maxSize yields a
// *frameTooLargeError and leaves the body unread.
func readFrame(r io.Reader, m proto.Message, maxSize int) error {
	var hdr [frameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(maxSize) {
		return &frameTooLargeError{size: uint64(n), max: uint64(maxSize)}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if err := proto.Unmarshal(body, m); err != nil {
		return fmt.Errorf("unmarshal envelope: %w", err)
	}
	return nil
}
