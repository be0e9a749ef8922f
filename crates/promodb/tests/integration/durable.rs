//! Durable databases: persistence, recovery, damaged files and injected failures.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use promodb::arrow::array::{
    AsArray, Decimal128Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use promodb::arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use promodb::durable::{Durability, FaultInjector};
use promodb::{Error, PromoDb, PromoDbBuilder};

use crate::common::query;

/// 2026-11-11T00:00:00Z in microseconds.
const PROMO_START: i64 = 1_794_355_200_000_000;
const HOUR: i64 = 3_600_000_000;

/// Orders with the given ids, spread over three hours (so over three partitions).
pub(crate) fn orders(ids: impl IntoIterator<Item = i64>) -> RecordBatch {
    let ids: Vec<i64> = ids.into_iter().collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("order_id", DataType::Int64, false),
        Field::new("user_id", DataType::Int64, false),
        Field::new("sku_id", DataType::Int64, false),
        Field::new("qty", DataType::Int64, false),
        Field::new("amount", DataType::Decimal128(18, 2), false),
    ]));
    let ts: Vec<i64> = ids
        .iter()
        .map(|id| PROMO_START + id.rem_euclid(3) * HOUR + id.rem_euclid(3600) * 1_000_000)
        .collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(Int64Array::from(
                ids.iter().map(|i| i % 97).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(vec![7; ids.len()])),
            Arc::new(Int64Array::from(vec![1; ids.len()])),
            Arc::new(
                Decimal128Array::from(
                    ids.iter()
                        .map(|i| i128::from(*i) * 100 + 5)
                        .collect::<Vec<_>>(),
                )
                .with_precision_and_scale(18, 2)
                .unwrap(),
            ),
        ],
    )
    .unwrap()
}

/// Every order id in the database, sorted (duplicates kept, so they show).
pub(crate) fn order_ids(db: &PromoDb) -> Vec<i64> {
    let batches = query(db, "SELECT order_id FROM orders ORDER BY order_id").unwrap();
    batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

fn builder() -> PromoDbBuilder {
    // No background persist during a test unless it asks: steps happen where the test says.
    PromoDb::builder()
        .with_target_partitions(2)
        .with_persist_interval(Duration::from_secs(3600))
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("wal"))
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn appends_survive_reopen_before_and_after_persisting() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = builder().open(dir.path()).unwrap();
        db.append("orders", orders(0..10)).unwrap();
        db.push(promodb::ingest::Order {
            ts: "2026-11-11T05:00:00Z".parse().unwrap(),
            order_id: 100,
            user_id: 1,
            sku_id: 2,
            qty: 1,
            unit_price: None,
            amount: "9.90".parse().unwrap(),
            channel: Some("search".to_string()),
            campaign_id: None,
            region: None,
        })
        .unwrap();
        assert_eq!(db.directory(), Some(dir.path()));
    }
    let expected: Vec<i64> = (0..10).chain([100]).collect();
    {
        // Recovered from the WAL alone.
        let db = builder().open(dir.path()).unwrap();
        assert_eq!(order_ids(&db), expected);
        assert!(parquet_files(dir.path()).is_empty());
        db.checkpoint().unwrap();
        assert_eq!(order_ids(&db), expected, "persisting changes no query");
        db.append("orders", orders(10..20)).unwrap();
    }
    let db = builder().open(dir.path()).unwrap();
    let expected: Vec<i64> = (0..20).chain([100]).collect();
    assert_eq!(order_ids(&db), expected);
    // Hive layout: one file per table and hour.
    let files: Vec<String> = parquet_files(dir.path())
        .iter()
        .map(|p| {
            p.strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
    for hour in ["00", "01", "02", "05"] {
        let prefix = format!("orders/date=2026-11-11/hour={hour}/");
        assert!(
            files.iter().any(|f| f.starts_with(&prefix)),
            "{prefix} in {files:?}"
        );
    }
    // The first checkpoint's WAL segments are gone.
    assert!(
        wal_files(dir.path()).len() <= 2,
        "{:?}",
        wal_files(dir.path())
    );
}

#[test]
fn persisted_files_are_plain_parquet_with_the_canonical_schema() {
    let dir = tempfile::tempdir().unwrap();
    let db = builder().open(dir.path()).unwrap();
    db.append("orders", orders(0..300)).unwrap();
    db.checkpoint().unwrap();
    let mut ids = Vec::new();
    for path in parquet_files(dir.path()) {
        let file = fs::File::open(&path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            assert_eq!(
                batch.schema(),
                promodb::schema::Table::Orders.arrow_schema()
            );
            ids.extend(
                batch
                    .column(1)
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .copied(),
            );
        }
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..300).collect::<Vec<_>>());
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = builder().open(dir.path()).unwrap();
    let err = builder().open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("LOCK"), "{err}");
    drop(db);
    builder().open(dir.path()).unwrap();
}

#[test]
fn user_columns_survive_persisting_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = builder().open(dir.path()).unwrap();
        db.append("orders", orders(0..3)).unwrap();
        db.checkpoint().unwrap();
        let base = orders(3..6);
        let mut fields: Vec<Field> = base
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("coupon", DataType::Utf8, true));
        let mut columns = base.columns().to_vec();
        columns.push(Arc::new(StringArray::from(vec![
            Some("A"),
            None,
            Some("C"),
        ])));
        db.append(
            "orders",
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap(),
        )
        .unwrap();
    }
    let db = builder().open(dir.path()).unwrap();
    db.checkpoint().unwrap();
    drop(db);
    let db = builder().open(dir.path()).unwrap();
    let rows = query(&db, "SELECT order_id, coupon FROM orders ORDER BY order_id").unwrap();
    crate::common::assert_text_eq(
        "
+----------+--------+
| order_id | coupon |
+----------+--------+
| 0        |        |
| 1        |        |
| 2        |        |
| 3        | A      |
| 4        |        |
| 5        | C      |
+----------+--------+",
        &crate::common::table(&rows),
    );
}

#[test]
fn small_files_of_a_partition_are_compacted_into_one() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = builder().with_compaction_files(3).open(dir.path()).unwrap();
        for round in 0..3 {
            // Ids that are multiples of 3 all fall in hour 00.
            db.append("orders", orders((0..5).map(|i| (round * 5 + i) * 3)))
                .unwrap();
            db.checkpoint().unwrap();
        }
        assert_eq!(order_ids(&db).len(), 15);
    }
    let files = parquet_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let db = builder().open(dir.path()).unwrap();
    assert_eq!(order_ids(&db), (0..15).map(|i| i * 3).collect::<Vec<_>>());
}

#[test]
fn every_durability_mode_keeps_what_a_clean_shutdown_had() {
    for durability in [
        Durability::Immediate,
        Durability::Interval(Duration::from_millis(5)),
        Durability::None,
    ] {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = builder()
                .with_durability(durability)
                .with_persist_interval(Duration::from_millis(20))
                .open(dir.path())
                .unwrap();
            db.append("orders", orders(0..50)).unwrap();
            if durability == Durability::None {
                // Without a WAL, rows are durable once persisted.
                db.checkpoint().unwrap();
            }
        }
        let db = builder()
            .with_durability(durability)
            .open(dir.path())
            .unwrap();
        assert_eq!(
            order_ids(&db),
            (0..50).collect::<Vec<_>>(),
            "{durability:?}"
        );
    }
}

#[test]
fn the_background_persister_writes_parquet_and_truncates_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let db = builder()
        .with_persist_interval(Duration::from_millis(20))
        .open(dir.path())
        .unwrap();
    db.append("orders", orders(0..30)).unwrap();
    let mut waited = Duration::ZERO;
    while parquet_files(dir.path()).len() < 3 && waited < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
        waited += Duration::from_millis(10);
    }
    assert_eq!(parquet_files(dir.path()).len(), 3);
    drop(db);
    let db = builder().open(dir.path()).unwrap();
    assert_eq!(order_ids(&db), (0..30).collect::<Vec<_>>());
}

#[test]
fn appends_past_the_unpersisted_bound_wait_for_the_persister() {
    let dir = tempfile::tempdir().unwrap();
    let db = builder()
        .with_max_unpersisted_bytes(1, Duration::from_secs(20))
        .open(dir.path())
        .unwrap();
    db.append("orders", orders(0..10)).unwrap();
    // The first append put the database over its bound: the next one waits until the
    // persister (whose interval is an hour) has written it out.
    db.append("orders", orders(10..20)).unwrap();
    assert!(!parquet_files(dir.path()).is_empty());
    drop(db);
    let db = builder().open(dir.path()).unwrap();
    assert_eq!(order_ids(&db), (0..20).collect::<Vec<_>>());
}

/// Byte offsets of the records in a WAL segment.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut offset = 16;
    while offset < bytes.len() {
        offsets.push(offset);
        let len = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
        offset += 8 + len;
    }
    offsets
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            fs::copy(&path, &target).unwrap();
        }
    }
}

/// A closed database whose WAL holds three appends (ids 0..10, 10..20, 20..30) in one
/// segment, and nothing persisted.
fn three_logged_appends() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = builder().open(dir.path()).unwrap();
        for i in 0..3 {
            db.append("orders", orders(i * 10..(i + 1) * 10)).unwrap();
        }
    }
    let wal = wal_files(dir.path());
    assert_eq!(wal.len(), 1, "{wal:?}");
    let segment = wal[0].clone();
    (dir, segment)
}

/// The WAL reader itself is checked at every byte offset of the last record (a unit test
/// of `durable::wal`); here whole databases are reopened at every offset of the record's
/// frame header, every 16th offset of its payload, and its last byte.
#[test]
fn a_torn_last_record_is_dropped_and_cut_off() {
    let (dir, segment) = three_logged_appends();
    let bytes = fs::read(&segment).unwrap();
    let offsets = record_offsets(&bytes);
    assert_eq!(offsets.len(), 3);
    let last = offsets[2];
    let cuts = (last..last + 9)
        .chain((last + 9..bytes.len()).step_by(16))
        .chain([bytes.len() - 1]);
    for cut in cuts {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        let torn = copy.path().join("wal").join(segment.file_name().unwrap());
        fs::OpenOptions::new()
            .write(true)
            .open(&torn)
            .unwrap()
            .set_len(cut as u64)
            .unwrap();
        {
            let db = builder().open(copy.path()).unwrap();
            assert_eq!(order_ids(&db), (0..20).collect::<Vec<_>>(), "cut at {cut}");
            // The tail was cut off: new appends after it recover too.
            db.append("orders", orders(50..52)).unwrap();
        }
        let db = builder().open(copy.path()).unwrap();
        let expected: Vec<i64> = (0..20).chain(50..52).collect();
        assert_eq!(order_ids(&db), expected, "reopen after cut at {cut}");
    }
}

#[test]
fn a_flipped_byte_in_the_middle_of_the_wal_is_a_clear_error() {
    let (dir, segment) = three_logged_appends();
    let mut bytes = fs::read(&segment).unwrap();
    let offsets = record_offsets(&bytes);
    bytes[offsets[1] + 40] ^= 0x20;
    fs::write(&segment, &bytes).unwrap();
    let err = builder().open(dir.path()).unwrap_err();
    match &err {
        Error::Corrupt { path, offset, .. } => {
            assert_eq!(path, &segment);
            assert_eq!(*offset, offsets[1] as u64);
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    assert!(err.to_string().contains("checksum"), "{err}");
}

fn persisted_db() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = builder().open(dir.path()).unwrap();
    db.append("orders", orders(0..30)).unwrap();
    db.checkpoint().unwrap();
    dir
}

#[test]
fn a_truncated_or_garbage_parquet_file_is_a_clear_error() {
    for damage in ["truncate", "garbage"] {
        let dir = persisted_db();
        let file = parquet_files(dir.path())[0].clone();
        match damage {
            "truncate" => {
                let len = fs::metadata(&file).unwrap().len();
                fs::OpenOptions::new()
                    .write(true)
                    .open(&file)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
            }
            _ => fs::write(&file, b"this is not parquet at all, not even close").unwrap(),
        }
        let err = builder().open(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{damage}: {err}");
        assert!(
            err.to_string().contains(&*file.to_string_lossy()),
            "{damage}: {err}"
        );
    }
}

#[test]
fn a_missing_manifest_next_to_data_is_a_clear_error() {
    let dir = persisted_db();
    fs::remove_file(dir.path().join("MANIFEST")).unwrap();
    let err = builder().open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("MANIFEST is missing"), "{err}");
}

#[test]
fn a_file_the_manifest_does_not_list_is_removed_not_loaded() {
    let dir = persisted_db();
    let listed = parquet_files(dir.path())[0].clone();
    let orphan = listed.with_file_name("9999999999.parquet");
    fs::copy(&listed, &orphan).unwrap();
    let db = builder().open(dir.path()).unwrap();
    assert_eq!(order_ids(&db), (0..30).collect::<Vec<_>>());
    assert!(!orphan.exists());
}

/// A small workload with persists and compactions; returns the ids acknowledged before
/// the first failure, and whether a failure happened.
fn faulty_workload(dir: &Path, faults: &FaultInjector) -> (Vec<i64>, bool) {
    let db = match builder()
        .with_compaction_files(2)
        .with_fault_injector(faults.clone())
        .open(dir)
    {
        Ok(db) => db,
        Err(_) => return (Vec::new(), true),
    };
    let mut acked = Vec::new();
    for step in 0..8i64 {
        let ids: Vec<i64> = (step * 4..step * 4 + 4).collect();
        match db.append("orders", orders(ids.iter().copied())) {
            Ok(_) => acked.extend(ids),
            Err(err) => {
                assert!(
                    matches!(
                        err.kind(),
                        promodb::ErrorKind::Io | promodb::ErrorKind::Unavailable
                    ),
                    "{err}"
                );
                let again = db.append("orders", orders([1000])).unwrap_err();
                assert!(matches!(again, Error::WritesRefused { .. }), "{again}");
                return (acked, true);
            }
        }
        if step % 3 == 2 && db.checkpoint().is_err() {
            let again = db.append("orders", orders([1000])).unwrap_err();
            assert!(matches!(again, Error::WritesRefused { .. }), "{again}");
            return (acked, true);
        }
    }
    (acked, false)
}

#[test]
fn a_failed_write_or_fsync_refuses_writes_and_loses_nothing_acknowledged() {
    let probe = FaultInjector::new();
    let dir = tempfile::tempdir().unwrap();
    let (_, failed) = faulty_workload(dir.path(), &probe);
    assert!(!failed);
    let (writes, syncs) = (probe.writes(), probe.syncs());
    assert!(writes > 10 && syncs > 10, "{writes} writes, {syncs} syncs");
    for (kind, count) in [("write", writes), ("fsync", syncs)] {
        for n in 1..=count {
            let faults = FaultInjector::new();
            match kind {
                "write" => faults.fail_nth_write(n),
                _ => faults.fail_nth_sync(n),
            }
            let dir = tempfile::tempdir().unwrap();
            let (acked, failed) = faulty_workload(dir.path(), &faults);
            assert!(failed, "{kind} {n} of {count} did not fail anything");
            let db = builder().open(dir.path()).unwrap();
            let ids = order_ids(&db);
            let mut unique = ids.clone();
            unique.dedup();
            assert_eq!(unique, ids, "{kind} {n}: a row appears twice");
            for id in &acked {
                assert!(
                    ids.binary_search(id).is_ok(),
                    "{kind} {n}: acknowledged order {id} lost"
                );
            }
            // At most the one append that failed may be there unacknowledged.
            assert!(
                ids.len() <= acked.len() + 4,
                "{kind} {n}: {} rows for {} acked",
                ids.len(),
                acked.len()
            );
        }
    }
}
