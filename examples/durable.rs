//! cargo run --example durable [-- --scale N]
//!
//! A durable war-room database: orders stream in from 4 threads into a database directory
//! (every append in the WAL and fsynced before it returns, concurrent appends sharing one
//! fsync), rows are persisted to Hive-partitioned Parquet, and after the process "restarts"
//! (the handle is dropped and the directory reopened) every row is there exactly once.
//! Set PROMODB_DB=DIR to keep the database in DIR instead of a temporary directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use promodb::PromoDb;
use promodb::schema::Table;
use promodb_datagen::{PromoConfig, generate};
use promodb_examples::{print_section, scale};

const WRITERS: usize = 4;
const ROWS_PER_APPEND: usize = 256;
const SUMMARY: &str = "SELECT count(*) AS orders, count(DISTINCT order_id) AS distinct_ids, \
                       sum(amount) AS gmv FROM orders";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (dir, temporary) = match std::env::var("PROMODB_DB") {
        Ok(dir) => (PathBuf::from(dir), false),
        Err(_) => (
            std::env::temp_dir().join(format!("promodb-durable-example-{}", std::process::id())),
            true,
        ),
    };
    let promo = generate(&PromoConfig::new(scale(500_000)?).with_last_year(false));
    let batches = promo.batches(Table::Orders, ROWS_PER_APPEND);

    let db = PromoDb::open(&dir)?;
    let began = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (db, batches) = (&db, &batches);
                scope.spawn(move || -> promodb::Result<()> {
                    for batch in batches.iter().skip(writer).step_by(WRITERS) {
                        db.append("orders", batch.clone())?;
                    }
                    Ok(())
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("writer thread")?;
        }
        Ok(())
    })?;
    let seconds = began.elapsed().as_secs_f64();
    println!(
        "{} orders in {} fsynced appends from {WRITERS} threads in {seconds:.2} s ({:.0} appends/s)\n",
        promo.rows(Table::Orders),
        batches.len(),
        batches.len() as f64 / seconds
    );
    print_section(&db, "before the restart", SUMMARY).await?;

    db.checkpoint()?;
    println!("persisted files:");
    for file in parquet_files(&dir)?.iter().take(6) {
        println!("  {}", file.strip_prefix(&dir)?.display());
    }
    drop(db);

    let began = Instant::now();
    let db = PromoDb::open(&dir)?;
    println!("\nreopened in {:.2} s", began.elapsed().as_secs_f64());
    print_section(&db, "after the restart", SUMMARY).await?;
    drop(db);
    if temporary {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

fn parquet_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.join("orders")];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(folder)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
