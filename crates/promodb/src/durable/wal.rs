//! The write-ahead log: every accepted append, as a checksummed record, before it is
//! acknowledged.
//!
//! # Format (version 1)
//!
//! The log is a sequence of segment files `wal/GGGGGGGGGGGGGGGGGGGG.wal`, numbered by a
//! generation that only grows. Each file starts with a 16-byte header: the magic
//! `PROMOWAL`, the format version as a little-endian `u32` (1), and 4 reserved zero bytes.
//! Records follow back to back, each one framed as
//!
//! | bytes | content |
//! |---|---|
//! | 4 | payload length `n`, little-endian `u32` |
//! | 4 | CRC-32C of the payload, little-endian `u32` |
//! | n | payload |
//!
//! and the payload is one byte of record kind (1: rows appended to a table), one byte of
//! table (its position in [`crate::schema::Table::ALL`]), then an Arrow IPC stream (schema,
//! then the appended batches, conformed to the canonical types).
//!
//! A record at the end of the last file that is cut short (its header or payload runs
//! past the end of the file, or the rest of the file is zeros) was never acknowledged: it
//! is a torn tail, dropped and cut off at recovery. Anything else that does not check out
//! is corruption, reported with the file and the byte offset of the record.
//!
//! # Group commit
//!
//! Appends queue their framed records in memory, in the order they are published to the
//! tables; the first one to wait becomes the leader, writes everything queued in one
//! `write` and, with [`crate::durable::Durability::Immediate`], one `fdatasync`, then wakes
//! every append its write covered.

use std::fs::{self, File};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;

use super::crc::crc32c;
use super::disk::Disk;
use crate::error::{Error, Result};
use crate::schema::Table;

const MAGIC: &[u8; 8] = b"PROMOWAL";
const VERSION: u32 = 1;
pub(crate) const HEADER_LEN: usize = 16;
const FRAME_LEN: usize = 8;
const KIND_APPEND: u8 = 1;

/// The directory of the log inside a database directory.
pub(crate) fn wal_dir(db_dir: &Path) -> PathBuf {
    db_dir.join("wal")
}

pub(crate) fn segment_path(wal_dir: &Path, generation: u64) -> PathBuf {
    wal_dir.join(format!("{generation:020}.wal"))
}

fn header() -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header
}

/// Encodes an append of `batches` to `table` as a framed record.
pub(crate) fn encode_append(table: Table, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut payload = vec![KIND_APPEND, table as u8];
    if let Some(first) = batches.first() {
        let mut writer = StreamWriter::try_new(&mut payload, &first.schema())?;
        for batch in batches {
            writer.write(batch)?;
        }
        writer.finish()?;
    }
    let mut record = Vec::with_capacity(FRAME_LEN + payload.len());
    let len = u32::try_from(payload.len())
        .map_err(|_| Error::InvalidArgument("an append larger than 4 GiB".to_string()))?;
    record.extend_from_slice(&len.to_le_bytes());
    record.extend_from_slice(&crc32c(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    Ok(record)
}

/// One record read back from the log.
#[derive(Debug)]
pub(crate) struct Replayed {
    pub(crate) table: Table,
    pub(crate) batches: Vec<RecordBatch>,
}

/// What reading one segment file found.
#[derive(Debug)]
pub(crate) struct SegmentContents {
    pub(crate) records: Vec<Replayed>,
    /// Offset of a torn record at the tail, if there was one; the file is valid up to it.
    pub(crate) torn_at: Option<u64>,
}

/// Reads every record of a segment file.
pub(crate) fn read_segment(path: &Path) -> Result<SegmentContents> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let corrupt = |offset: usize, reason: &str| Error::corrupt(path, offset as u64, reason);
    if bytes.len() < HEADER_LEN {
        return Ok(SegmentContents {
            records: Vec::new(),
            torn_at: Some(0),
        });
    }
    if &bytes[..8] != MAGIC {
        return Err(corrupt(0, "not a promodb WAL file (bad magic)"));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(corrupt(8, &format!("unsupported WAL version {version}")));
    }
    let mut records = Vec::new();
    let mut offset = HEADER_LEN;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let torn = || SegmentContents {
            records: Vec::new(),
            torn_at: Some(offset as u64),
        };
        if rest.len() < FRAME_LEN || rest.iter().all(|b| *b == 0) {
            return Ok(SegmentContents { records, ..torn() });
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        if rest.len() - FRAME_LEN < len {
            return Ok(SegmentContents { records, ..torn() });
        }
        let payload = &rest[FRAME_LEN..FRAME_LEN + len];
        if crc32c(payload) != crc {
            return Err(corrupt(offset, "record checksum mismatch"));
        }
        records.push(decode_payload(payload).map_err(|reason| corrupt(offset, &reason))?);
        offset += FRAME_LEN + len;
    }
    Ok(SegmentContents {
        records,
        torn_at: None,
    })
}

fn decode_payload(payload: &[u8]) -> std::result::Result<Replayed, String> {
    let [kind, table, ipc @ ..] = payload else {
        return Err("record shorter than its kind and table".to_string());
    };
    if *kind != KIND_APPEND {
        return Err(format!("unknown record kind {kind}"));
    }
    let table = *Table::ALL
        .get(usize::from(*table))
        .ok_or_else(|| format!("unknown table number {table}"))?;
    let mut batches = Vec::new();
    if !ipc.is_empty() {
        let reader = StreamReader::try_new(Cursor::new(ipc), None)
            .map_err(|e| format!("bad Arrow IPC stream: {e}"))?;
        for batch in reader {
            batches.push(batch.map_err(|e| format!("bad Arrow IPC batch: {e}"))?);
        }
    }
    Ok(Replayed { table, batches })
}

/// What an append waits for before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    /// The record is written and fsynced.
    Synced,
    /// The record is written to the operating system.
    Written,
}

/// The open log: the current segment file and the group-commit queue.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    disk: Disk,
    commit: Commit,
    state: Mutex<WalState>,
    changed: Condvar,
}

#[derive(Debug)]
struct WalState {
    file: Arc<File>,
    path: PathBuf,
    generation: u64,
    queued: Vec<u8>,
    /// Sequence number of the last record queued; records are numbered from 1.
    last_queued: u64,
    last_written: u64,
    last_synced: u64,
    leader_busy: bool,
    failed: Option<String>,
}

impl Wal {
    /// Starts a new segment file of `generation` in `dir`.
    pub(crate) fn create(dir: &Path, disk: Disk, generation: u64, commit: Commit) -> Result<Wal> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = segment_path(dir, generation);
        let file = disk.create_synced(&path, &header())?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            disk,
            commit,
            state: Mutex::new(WalState {
                file: Arc::new(file),
                path,
                generation,
                queued: Vec::new(),
                last_queued: 0,
                last_written: 0,
                last_synced: 0,
                leader_busy: false,
                failed: None,
            }),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, WalState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a framed record; returns its sequence number, to wait on with
    /// [`Wal::wait_committed`]. Records are written in the order they are queued.
    pub(crate) fn enqueue(&self, record: &[u8]) -> Result<u64> {
        let mut state = self.lock();
        if let Some(reason) = &state.failed {
            return Err(Error::WritesRefused {
                reason: reason.clone(),
            });
        }
        state.queued.extend_from_slice(record);
        state.last_queued += 1;
        Ok(state.last_queued)
    }

    /// Waits until record `seq` is committed as the log's [`Commit`] level asks, writing
    /// (and syncing) everything queued so far if no other append is doing it already.
    pub(crate) fn wait_committed(&self, seq: u64) -> Result<()> {
        let mut state = self.lock();
        loop {
            if let Some(reason) = &state.failed {
                return Err(Error::WritesRefused {
                    reason: reason.clone(),
                });
            }
            let done = match self.commit {
                Commit::Synced => state.last_synced >= seq,
                Commit::Written => state.last_written >= seq,
            };
            if done {
                return Ok(());
            }
            if state.leader_busy {
                state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            state.leader_busy = true;
            let bytes = std::mem::take(&mut state.queued);
            let upto = state.last_queued;
            let (file, path) = (Arc::clone(&state.file), state.path.clone());
            drop(state);
            let outcome = self.disk.append(&file, &path, &bytes).and_then(|()| {
                if self.commit == Commit::Synced {
                    self.disk.sync_data(&file, &path)
                } else {
                    Ok(())
                }
            });
            state = self.lock();
            state.leader_busy = false;
            match outcome {
                Ok(()) => {
                    state.last_written = upto;
                    if self.commit == Commit::Synced {
                        state.last_synced = upto;
                    }
                }
                Err(error) => state.failed = Some(error.to_string()),
            }
            self.changed.notify_all();
        }
    }

    /// Fsyncs what was written and not yet synced (the ticker of `Durability::Interval`).
    pub(crate) fn sync(&self) -> Result<()> {
        let mut state = self.lock();
        while state.leader_busy {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        self.flush_locked(&mut state)
    }

    fn flush_locked(&self, state: &mut WalState) -> Result<()> {
        if let Some(reason) = &state.failed {
            return Err(Error::WritesRefused {
                reason: reason.clone(),
            });
        }
        let outcome: Result<()> = (|| {
            if !state.queued.is_empty() {
                self.disk.append(&state.file, &state.path, &state.queued)?;
                state.queued.clear();
                state.last_written = state.last_queued;
            }
            if state.last_synced < state.last_written {
                self.disk.sync_data(&state.file, &state.path)?;
                state.last_synced = state.last_written;
            }
            Ok(())
        })();
        if let Err(error) = &outcome {
            state.failed = Some(error.to_string());
        }
        self.changed.notify_all();
        outcome
    }

    /// Writes and syncs everything queued, then starts the next segment file. Returns the
    /// new file's generation: every record queued before this call is in an older one.
    pub(crate) fn rotate(&self) -> Result<u64> {
        let mut state = self.lock();
        while state.leader_busy {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        self.flush_locked(&mut state)?;
        let generation = state.generation + 1;
        let path = segment_path(&self.dir, generation);
        match self.disk.create_synced(&path, &header()) {
            Ok(file) => {
                state.file = Arc::new(file);
                state.path = path;
                state.generation = generation;
                Ok(generation)
            }
            Err(error) => {
                state.failed = Some(error.to_string());
                self.changed.notify_all();
                Err(error)
            }
        }
    }
}

/// The generations of the segment files in `dir`, sorted; files that are not segments
/// are an error (they would be silently ignored otherwise).
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut generations = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let generation = name
            .strip_suffix(".wal")
            .and_then(|stem| stem.parse::<u64>().ok())
            .ok_or_else(|| {
                Error::corrupt(entry.path(), 0, "unexpected file in the WAL directory")
            })?;
        generations.push(generation);
    }
    generations.sort_unstable();
    Ok(generations)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(values: Vec<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "sku_id",
            DataType::Int64,
            false,
        )]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values))]).unwrap()
    }

    /// A segment with three records and the offset at which the third starts.
    fn three_records() -> (Vec<u8>, usize) {
        let mut bytes = header().to_vec();
        for i in 0..2 {
            bytes.extend(encode_append(Table::Skus, &[batch(vec![i, i + 1])]).unwrap());
        }
        let last = bytes.len();
        bytes.extend(encode_append(Table::Orders, &[batch(vec![7, 8, 9])]).unwrap());
        (bytes, last)
    }

    #[test]
    fn records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, _) = three_records();
        let path = dir.path().join("1.wal");
        fs::write(&path, &bytes).unwrap();
        let contents = read_segment(&path).unwrap();
        assert_eq!(contents.torn_at, None);
        assert_eq!(contents.records.len(), 3);
        assert_eq!(contents.records[2].table, Table::Orders);
        assert_eq!(contents.records[2].batches, vec![batch(vec![7, 8, 9])]);
    }

    #[test]
    fn a_cut_at_every_byte_of_the_last_record_is_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, last) = three_records();
        let path = dir.path().join("1.wal");
        for cut in last + 1..bytes.len() {
            fs::write(&path, &bytes[..cut]).unwrap();
            let contents = read_segment(&path).unwrap();
            assert_eq!(contents.torn_at, Some(last as u64), "cut at {cut}");
            assert_eq!(contents.records.len(), 2, "cut at {cut}");
        }
        // Zeros where the record should be (a file extended but never written) are torn too.
        let mut zeroed = bytes.clone();
        zeroed[last..].fill(0);
        fs::write(&path, &zeroed).unwrap();
        assert_eq!(read_segment(&path).unwrap().torn_at, Some(last as u64));
    }

    #[test]
    fn a_flipped_byte_anywhere_in_a_complete_record_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, last) = three_records();
        let path = dir.path().join("1.wal");
        for at in (HEADER_LEN + FRAME_LEN..last).step_by(7) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x01;
            fs::write(&path, &damaged).unwrap();
            let err = read_segment(&path).unwrap_err();
            assert!(matches!(err, Error::Corrupt { .. }), "byte {at}: {err}");
        }
    }
}
