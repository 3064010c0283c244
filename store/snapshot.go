package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	memdb "github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-io/meridian/pb"
)

// snapshotVersion is the format version written in a snapshot header.
const snapshotVersion = 1

// maxSnapshotRecord bounds one record so corrupt lengths fail fast.
const maxSnapshotRecord = 64 << 20

// ErrBadSnapshot is returned when a snapshot stream cannot be restored; the
// store is left as it was.
var ErrBadSnapshot = errors.New("bad snapshot")

// Snapshot is a point-in-time view of the whole store. Taking one is cheap
// (memdb is immutable underneath); writing it out streams every table.
type Snapshot struct {
	tx    *memdb.Txn
	index uint64
}

// Snapshot captures the store as it is now.
func (s *Store) Snapshot() *Snapshot {
	db := s.cur.Load().db.Snapshot()
	tx := db.Txn(false)
	snap := &Snapshot{tx: tx}
	it, err := tx.Get(tableIndex, "id")
	if err == nil {
		for raw := it.Next(); raw != nil; raw = it.Next() {
			snap.index = max(snap.index, raw.(*indexRow).Value)
		}
	}
	return snap
}

// Index is the highest index the snapshot contains.
func (sn *Snapshot) Index() uint64 { return sn.index }

// Close releases the snapshot.
func (sn *Snapshot) Close() { sn.tx.Abort() }

// WriteTo streams the snapshot as length-delimited protobuf messages: a
// header, one record per row of every table, and a footer with the count.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	var n int64
	write := func(m proto.Message) error {
		k, err := protodelim.MarshalTo(bw, m)
		n += int64(k)
		return err
	}
	if err := write(&pb.SnapshotHeader{Version: snapshotVersion, LastIndex: sn.index}); err != nil {
		return n, err
	}
	var records uint64
	emit := func(r *pb.SnapshotRecord) error {
		records++
		return write(r)
	}
	tables := []struct {
		name string
		rec  func(raw any) *pb.SnapshotRecord
	}{
		{tableTombstones, func(raw any) *pb.SnapshotRecord {
			t := raw.(*tombstoneRow)
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_Tombstone{Tombstone: &pb.Tombstone{Key: t.Key, Index: t.Index}}}
		}},
		{tableNodes, func(raw any) *pb.SnapshotRecord {
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_Node{Node: raw.(*pb.Node)}}
		}},
		{tableServices, func(raw any) *pb.SnapshotRecord {
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_Service{Service: raw.(*pb.Service)}}
		}},
		{tableChecks, func(raw any) *pb.SnapshotRecord {
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_Check{Check: raw.(*pb.HealthCheck)}}
		}},
		{tableSessions, func(raw any) *pb.SnapshotRecord {
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_Session{Session: raw.(*pb.Session)}}
		}},
		{tableSessionTimers, func(raw any) *pb.SnapshotRecord {
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_SessionTimer{SessionTimer: raw.(*pb.SessionTimer)}}
		}},
		{tableLockDelays, func(raw any) *pb.SnapshotRecord {
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_LockDelay{LockDelay: raw.(*pb.LockDelay)}}
		}},
		{tableCoordinates, func(raw any) *pb.SnapshotRecord {
			// Ignorable: a server of an earlier version restores without
			// them (they only feed RTT estimates).
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_Coordinate{Coordinate: raw.(*pb.CoordinateEntry)}, IgnoreIfUnknown: true}
		}},
		{tablePreparedQueries, func(raw any) *pb.SnapshotRecord {
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_PreparedQuery{PreparedQuery: raw.(*pb.PreparedQuery)}}
		}},
		{tableACLTokens, func(raw any) *pb.SnapshotRecord {
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_AclToken{AclToken: raw.(*pb.ACLToken)}}
		}},
		{tableACLPolicies, func(raw any) *pb.SnapshotRecord {
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_AclPolicy{AclPolicy: raw.(*pb.ACLPolicy)}}
		}},
		{tableACLRoles, func(raw any) *pb.SnapshotRecord {
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_AclRole{AclRole: raw.(*pb.ACLRole)}}
		}},
		{tableACLBootstrap, func(raw any) *pb.SnapshotRecord {
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_AclBootstrap{AclBootstrap: raw.(*aclBootstrapRow).State}}
		}},
		{tableKVReplication, func(raw any) *pb.SnapshotRecord {
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_KvReplicationState{KvReplicationState: raw.(*pb.KVReplicationState)}}
		}},
		{tableAutopilot, func(raw any) *pb.SnapshotRecord {
			// Ignorable: a server of an earlier version has no autopilot.
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_AutopilotConfig{AutopilotConfig: raw.(*autopilotRow).Config}, IgnoreIfUnknown: true}
		}},
		{tableIndex, func(raw any) *pb.SnapshotRecord {
			r := raw.(*indexRow)
			return &pb.SnapshotRecord{Record: &pb.SnapshotRecord_TableIndex{TableIndex: &pb.TableIndex{Table: r.Key, Index: r.Value}}}
		}},
	}
	// KV entries go in chunks, so the values of keys written one after
	// another are read together (readValues).
	var kvErr error
	chunk := make([]*kvEntry, 0, restoreBatch)
	emitKV := func() {
		ps, err := kvEntriesPB(chunk)
		for _, p := range ps {
			if err == nil {
				err = emit(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_Kv{Kv: p}})
			}
		}
		kvErr, chunk = err, chunk[:0]
	}
	kvRead(sn.tx).Ascend(func(e *kvEntry) bool {
		if chunk = append(chunk, e); len(chunk) == cap(chunk) {
			emitKV()
		}
		return kvErr == nil
	})
	if kvErr == nil && len(chunk) > 0 {
		emitKV()
	}
	if kvErr != nil {
		return n, kvErr
	}
	for _, t := range tables {
		it, err := sn.tx.Get(t.name, "id")
		if err != nil {
			return n, fmt.Errorf("snapshot %s: %w", t.name, err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if err := emit(t.rec(raw)); err != nil {
				return n, err
			}
		}
	}
	if err := write(&pb.SnapshotRecord{Record: &pb.SnapshotRecord_Footer{Footer: &pb.SnapshotFooter{Records: records}}}); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// Restore replaces the whole store with the snapshot read from r. The new
// contents are built aside and swapped in only when the stream was read to
// its footer without error; otherwise the store is unchanged. Blocking
// queries on the old contents are woken (AbandonCh).
func (s *Store) Restore(r io.Reader) error {
	st, err := readSnapshot(r, s.vlog)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	s.replace(st)
	return nil
}

// restoreBatch is how many records the decoder hands the inserter at once.
const restoreBatch = 512

// readSnapshot builds a state from a snapshot stream, its values stored in
// vlog.
func readSnapshot(r io.Reader, vlog *valueLog) (*state, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	opts := protodelim.UnmarshalOptions{MaxSize: maxSnapshotRecord}
	var hdr pb.SnapshotHeader
	if err := opts.UnmarshalFrom(br, &hdr); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if hdr.Version != snapshotVersion {
		return nil, fmt.Errorf("unsupported snapshot version %d", hdr.Version)
	}
	st, err := newState(vlog)
	if err != nil {
		return nil, err
	}
	// Decoding and inserting each take about half of a restore's time:
	// one goroutine decodes records while this one inserts them.
	batches := make(chan []numberedRecord, 4)
	stop := make(chan struct{})
	decoded := make(chan error, 1)
	go func() {
		defer close(batches)
		decoded <- decodeRecords(br, opts, batches, stop)
	}()
	defer func() {
		close(stop)
		for range batches { // let the decoder finish
		}
	}()
	tx := st.db.Txn(true)
	defer tx.Abort()
	for batch := range batches {
		for _, r := range batch {
			if err := restoreRecord(tx, r.rec); err != nil {
				return nil, fmt.Errorf("record %d: %w", r.n, err)
			}
		}
	}
	if err := <-decoded; err != nil {
		return nil, err
	}
	if err := vlog.flush(); err != nil {
		return nil, err
	}
	tx.Commit()
	return st, nil
}

// numberedRecord is a snapshot record and its place in the snapshot.
type numberedRecord struct {
	n   uint64
	rec *pb.SnapshotRecord
}

// decodeRecords reads a snapshot's records after its header, up to and
// checking its footer, and sends them in batches until stop is closed.
// Records of a table the snapshot marks ignorable that this version does
// not know are left out.
func decodeRecords(br *bufio.Reader, opts protodelim.UnmarshalOptions, out chan<- []numberedRecord, stop <-chan struct{}) error {
	var records uint64
	batch := make([]numberedRecord, 0, restoreBatch)
	send := func() bool {
		select {
		case out <- batch:
			batch = make([]numberedRecord, 0, restoreBatch)
			return true
		case <-stop:
			return false
		}
	}
	for {
		rec := new(pb.SnapshotRecord)
		if err := opts.UnmarshalFrom(br, rec); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("truncated after %d records", records)
			}
			return fmt.Errorf("record %d: %w", records+1, err)
		}
		if f := rec.GetFooter(); f != nil {
			if f.Records != records {
				return fmt.Errorf("footer counts %d records, read %d", f.Records, records)
			}
			if len(batch) > 0 && !send() {
				return errors.New("restore stopped")
			}
			return nil
		}
		records++
		if rec.Record == nil {
			if rec.IgnoreIfUnknown {
				continue // a table of a later version that may be left out
			}
			return fmt.Errorf("record %d has type %d, which this version does not know "+
				"(written by a newer version?)", records, unknownType(rec))
		}
		batch = append(batch, numberedRecord{records, rec})
		if len(batch) == restoreBatch && !send() {
			return errors.New("restore stopped")
		}
	}
}

func restoreRecord(tx *memdb.Txn, rec *pb.SnapshotRecord) error {
	switch r := rec.Record.(type) {
	case *pb.SnapshotRecord_Kv:
		if r.Kv.Key == "" {
			return errors.New("kv entry without a key")
		}
		in := r.Kv
		ref, err := kvNewValue(tx, in.Value)
		if err != nil {
			return err
		}
		return kvPut(tx, &kvEntry{Key: in.Key, Session: in.Session, Flags: in.Flags, LockIndex: in.LockIndex,
			CreateIndex: in.CreateIndex, ModifyIndex: in.ModifyIndex, val: ref})
	case *pb.SnapshotRecord_Tombstone:
		if r.Tombstone.Key == "" {
			return errors.New("tombstone without a key")
		}
		return tx.Insert(tableTombstones, &tombstoneRow{Key: r.Tombstone.Key, Index: r.Tombstone.Index})
	case *pb.SnapshotRecord_TableIndex:
		if r.TableIndex.Table == "" {
			return errors.New("table index without a table")
		}
		return tx.Insert(tableIndex, &indexRow{Key: r.TableIndex.Table, Value: r.TableIndex.Index})
	case *pb.SnapshotRecord_Node:
		if r.Node.Node == "" {
			return errors.New("node without a name")
		}
		return tx.Insert(tableNodes, r.Node)
	case *pb.SnapshotRecord_Service:
		if r.Service.Node == "" || r.Service.Id == "" || r.Service.Service == "" {
			return errors.New("service without a node, id or name")
		}
		return tx.Insert(tableServices, r.Service)
	case *pb.SnapshotRecord_Check:
		if r.Check.Node == "" || r.Check.CheckId == "" {
			return errors.New("check without a node or id")
		}
		return tx.Insert(tableChecks, r.Check)
	case *pb.SnapshotRecord_Session:
		sess := r.Session
		if sess.Id == "" || sess.Node == "" {
			return errors.New("session without an id or node")
		}
		// The check links are derived from the session.
		for _, id := range append(append([]string(nil), sess.NodeChecks...), sess.ServiceChecks...) {
			if err := tx.Insert(tableSessionChecks, &sessionCheck{Node: sess.Node, CheckID: id, Session: sess.Id}); err != nil {
				return err
			}
		}
		return tx.Insert(tableSessions, sess)
	case *pb.SnapshotRecord_SessionTimer:
		if r.SessionTimer.Id == "" {
			return errors.New("session timer without an id")
		}
		return tx.Insert(tableSessionTimers, r.SessionTimer)
	case *pb.SnapshotRecord_LockDelay:
		if r.LockDelay.Key == "" {
			return errors.New("lock delay without a key")
		}
		return tx.Insert(tableLockDelays, r.LockDelay)
	case *pb.SnapshotRecord_Coordinate:
		if r.Coordinate.Node == "" || !ValidCoordinate(r.Coordinate.Coord) {
			return errors.New("coordinate without a node or with an invalid coordinate")
		}
		return tx.Insert(tableCoordinates, r.Coordinate)
	case *pb.SnapshotRecord_PreparedQuery:
		if r.PreparedQuery.Id == "" {
			return errors.New("prepared query without an ID")
		}
		return tx.Insert(tablePreparedQueries, r.PreparedQuery)
	case *pb.SnapshotRecord_AclToken:
		if r.AclToken.AccessorId == "" || r.AclToken.SecretId == "" {
			return errors.New("ACL token without an accessor or secret")
		}
		return tx.Insert(tableACLTokens, r.AclToken)
	case *pb.SnapshotRecord_AclPolicy:
		if r.AclPolicy.Id == "" || r.AclPolicy.Name == "" {
			return errors.New("ACL policy without an id or name")
		}
		return tx.Insert(tableACLPolicies, r.AclPolicy)
	case *pb.SnapshotRecord_AclRole:
		if r.AclRole.Id == "" || r.AclRole.Name == "" {
			return errors.New("ACL role without an id or name")
		}
		return tx.Insert(tableACLRoles, r.AclRole)
	case *pb.SnapshotRecord_AclBootstrap:
		return tx.Insert(tableACLBootstrap, &aclBootstrapRow{ID: "bootstrap", State: r.AclBootstrap})
	case *pb.SnapshotRecord_KvReplicationState:
		if r.KvReplicationState.SourceDatacenter == "" {
			return errors.New("kv replication state without a source datacenter")
		}
		return tx.Insert(tableKVReplication, r.KvReplicationState)
	case *pb.SnapshotRecord_AutopilotConfig:
		return tx.Insert(tableAutopilot, &autopilotRow{ID: autopilotRowID, Config: r.AutopilotConfig})
	default:
		return fmt.Errorf("unknown record type %T", rec.Record)
	}
}

// CheckSnapshot reads a whole snapshot stream as Restore would, without
// touching the store: it returns an error wrapping ErrBadSnapshot for a
// stream Restore would refuse. A caller that must not fail halfway
// (Raft panics when a restore it was handed fails) checks first.
func CheckSnapshot(r io.Reader) error {
	// The values are read and dropped: nothing keeps this state.
	if _, err := readSnapshot(r, &valueLog{discard: true}); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	return nil
}
