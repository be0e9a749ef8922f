//! Crash tests with a real process: a child appends from several threads and reports
//! every acknowledged append; the parent kills it with SIGKILL at a random moment
//! (during appends, fsyncs, sealing, persisting or compacting: the child persists every
//! 10 ms and compacts every 3 files), reopens the database and checks that every
//! acknowledged row is there exactly once and that nothing else is, but the one append
//! per thread that was in flight.
//!
//! `PROMODB_CRASH_ITERATIONS` sets the number of kills (default 20).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promodb::PromoDb;

use crate::durable::{order_ids, orders};

const THREADS: i64 = 4;
const ROWS_PER_APPEND: i64 = 5;
const CHILD_DIR: &str = "PROMODB_CRASH_CHILD_DIR";
const CHILD_RUN: &str = "PROMODB_CRASH_CHILD_RUN";

/// The order ids of one append: run, thread and sequence number are encoded in them.
fn append_ids(run: i64, thread: i64, seq: i64) -> std::ops::Range<i64> {
    let first = ((run * THREADS + thread) * 10_000_000 + seq) * ROWS_PER_APPEND;
    first..first + ROWS_PER_APPEND
}

fn decode(id: i64) -> (i64, i64, i64) {
    let append = id / ROWS_PER_APPEND;
    let seq = append % 10_000_000;
    let writer = append / 10_000_000;
    (writer / THREADS, writer % THREADS, seq)
}

fn open(dir: &Path) -> PromoDb {
    PromoDb::builder()
        .with_target_partitions(2)
        .with_persist_interval(Duration::from_millis(10))
        .with_compaction_files(3)
        .open(dir)
        .unwrap_or_else(|e| panic!("reopening {}: {e}", dir.display()))
}

/// The child's side: only runs when the parent launched this binary for it.
#[test]
fn child_process_workload() {
    let (Ok(dir), Ok(run)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_RUN)) else {
        return;
    };
    let run: i64 = run.parse().unwrap();
    let db = open(Path::new(&dir));
    println!("ready");
    std::io::stdout().flush().unwrap();
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let db = db.clone();
            std::thread::spawn(move || {
                for seq in 0.. {
                    db.append("orders", orders(append_ids(run, thread, seq)))
                        .unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {run} {thread} {seq}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

#[test]
fn acknowledged_appends_survive_sigkill_exactly_once() {
    if std::env::var(CHILD_DIR).is_ok() {
        return;
    }
    let iterations: i64 = std::env::var("PROMODB_CRASH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let logs = tempfile::tempdir().unwrap();
    // (run, thread) -> last acknowledged sequence number.
    let mut acked: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    let mut total_acked = 0usize;
    for run in 0..iterations {
        let log = logs.path().join(format!("child-{run}.stderr"));
        let mut child = Command::new(&exe)
            .args([
                "crash::child_process_workload",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_RUN, run.to_string())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let started = Instant::now();
        loop {
            let Some(line) = lines.next() else {
                let stderr = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("run {run}: the child exited before it was ready:\n{stderr}");
            };
            let line = line.unwrap();
            // libtest may print "test NAME ... " before it, on the same line.
            if line.ends_with("ready") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "child never ready"
            );
        }
        std::thread::sleep(Duration::from_millis(5 + rng.below(250)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for line in lines {
            let line = line.unwrap();
            let Some(rest) = line.strip_prefix("ack ") else {
                continue;
            };
            let numbers: Vec<i64> = rest.split(' ').map(|n| n.parse().unwrap()).collect();
            let last = acked.entry((numbers[0], numbers[1])).or_insert(-1);
            assert_eq!(numbers[2], *last + 1, "acks of a thread come in order");
            *last = numbers[2];
            total_acked += 1;
        }

        let db = open(dir.path());
        let ids = order_ids(&db);
        drop(db);
        let mut seen = BTreeSet::new();
        let mut rows_of: BTreeMap<(i64, i64, i64), i64> = BTreeMap::new();
        for id in &ids {
            assert!(seen.insert(*id), "run {run}: order {id} appears twice");
            *rows_of.entry(decode(*id)).or_default() += 1;
        }
        for ((r, thread, seq), rows) in &rows_of {
            assert_eq!(
                *rows, ROWS_PER_APPEND,
                "run {run}: append {r}/{thread}/{seq} is partly there"
            );
            let last = acked.get(&(*r, *thread)).copied().unwrap_or(-1);
            assert!(
                *seq <= last + 1,
                "run {run}: append {r}/{thread}/{seq} is there, but only up to {last} was acknowledged"
            );
        }
        for (&(r, thread), &last) in &acked {
            for seq in 0..=last {
                assert!(
                    rows_of.contains_key(&(r, thread, seq)),
                    "run {run}: acknowledged append {r}/{thread}/{seq} is lost"
                );
            }
        }
    }
    eprintln!("{iterations} kills, {total_acked} acknowledged appends checked");
    assert!(total_acked > 0);
}
