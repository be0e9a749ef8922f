//! Writers and readers at once: every reader's result must be a prefix of each writer's
//! appends, contain every append that returned before the query started, and never show
//! part of a batch append.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread;

use chrono::{DateTime, TimeZone, Utc};
use promodb::PromoDb;
use promodb::arrow::array::{
    AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use promodb::arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use promodb::ingest::UserEvent;

use crate::common::query;

const WRITERS: i64 = 4;
const APPENDS: i64 = 150;
const ROWS_PER_APPEND: i64 = 16;

/// Every third append of a writer pushes typed rows one at a time; the others append a
/// whole batch atomically.
fn is_pushed(append: i64) -> bool {
    append % 3 == 0
}

fn ts(micros: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(micros)
        .single()
        .expect("valid timestamp")
}

fn event_batch(writer: i64, append: i64) -> RecordBatch {
    let sessions: Vec<i64> = (0..ROWS_PER_APPEND)
        .map(|i| append * ROWS_PER_APPEND + i)
        .collect();
    let schema = Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("user_id", DataType::Int64, false),
        Field::new("session_id", DataType::Int64, true),
        Field::new("event_type", DataType::Utf8, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(TimestampMicrosecondArray::from(sessions.clone())),
            Arc::new(Int64Array::from(vec![writer; sessions.len()])),
            Arc::new(Int64Array::from(sessions.clone())),
            Arc::new(StringArray::from(vec!["view"; sessions.len()])),
        ],
    )
    .expect("batch")
}

fn write(db: &PromoDb, writer: i64, acked: &AtomicI64) {
    for append in 0..APPENDS {
        if is_pushed(append) {
            for i in 0..ROWS_PER_APPEND {
                let session = append * ROWS_PER_APPEND + i;
                db.push(UserEvent {
                    ts: ts(session),
                    user_id: writer,
                    session_id: Some(session),
                    event_type: "view".to_string(),
                    sku_id: None,
                    channel: None,
                })
                .expect("push");
            }
        } else {
            db.append("user_events", event_batch(writer, append))
                .expect("append");
        }
        acked.store(append, Ordering::SeqCst);
    }
}

fn check_reader_view(db: &PromoDb, acked: &[AtomicI64]) {
    // What had returned before the query started must be visible.
    let returned: Vec<i64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    let batches = query(
        db,
        "SELECT user_id, count(*) AS n, count(DISTINCT session_id) AS d, \
         coalesce(max(session_id), -1) AS top \
         FROM user_events GROUP BY user_id",
    )
    .expect("query");
    let mut seen = vec![0i64; WRITERS as usize];
    for batch in &batches {
        let users = batch.column(0).as_primitive::<Int64Type>();
        let counts = batch.column(1).as_primitive::<Int64Type>();
        let distinct = batch.column(2).as_primitive::<Int64Type>();
        let top = batch.column(3).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let (user, n) = (users.value(row), counts.value(row));
            // A prefix: sessions 0..n, each once.
            assert_eq!(distinct.value(row), n, "writer {user}: duplicated rows");
            assert_eq!(top.value(row), n - 1, "writer {user}: a gap, not a prefix");
            seen[user as usize] = n;
        }
    }
    for (writer, (&n, &last)) in seen.iter().zip(&returned).enumerate() {
        let must_see = (last + 1) * ROWS_PER_APPEND;
        assert!(
            n >= must_see,
            "writer {writer}: saw {n} rows, {must_see} had returned"
        );
        let partial = n % ROWS_PER_APPEND;
        assert!(
            partial == 0 || is_pushed(n / ROWS_PER_APPEND),
            "writer {writer}: saw part of batch append {}",
            n / ROWS_PER_APPEND
        );
    }
}

#[test]
fn readers_see_prefixes_of_every_writer_and_all_returned_appends() {
    let db = PromoDb::builder()
        .with_seal_rows(64)
        .in_memory()
        .expect("db");
    let acked: Arc<Vec<AtomicI64>> = Arc::new((0..WRITERS).map(|_| AtomicI64::new(-1)).collect());
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (db, acked, done) = (db.clone(), Arc::clone(&acked), Arc::clone(&done));
            thread::spawn(move || {
                let mut checks = 0;
                while !done.load(Ordering::SeqCst) || checks == 0 {
                    check_reader_view(&db, &acked);
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (db, acked) = (db.clone(), Arc::clone(&acked));
            thread::spawn(move || write(&db, writer, &acked[writer as usize]))
        })
        .collect();
    for w in writers {
        w.join().expect("writer thread");
    }
    done.store(true, Ordering::SeqCst);
    let checks: i32 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
    assert!(checks >= 2, "readers ran {checks} checks");

    // At the end, everything is there exactly once.
    check_reader_view(&db, &acked);
    assert_eq!(
        db.row_count("user_events").unwrap() as i64,
        WRITERS * APPENDS * ROWS_PER_APPEND
    );
}

#[test]
fn a_writer_reads_its_own_writes_at_once() {
    let db = PromoDb::in_memory().expect("db");
    for append in 0..20 {
        db.append("user_events", event_batch(0, append))
            .expect("append");
        let batches = query(&db, "SELECT count(*) FROM user_events").expect("query");
        let count = batches[0].column(0).as_primitive::<Int64Type>().value(0);
        assert_eq!(count, (append + 1) * ROWS_PER_APPEND);
    }
}
