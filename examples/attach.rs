//! cargo run --release --example attach [-- --scale N]
//!
//! A promo queried from its Parquet files in place: generates a Double 11 (2M user events
//! by default), writes it as Parquet, attaches every canonical table's file (nothing is
//! loaded into memory), and prints the war-room summary from the files. Then it loads the
//! same files into memory, checks that every answer is the same, and prints both timings.

use std::path::Path;
use std::time::Instant;

use promodb::PromoDb;
use promodb::arrow::util::pretty::pretty_format_batches;
use promodb::schema::Table;
use promodb_datagen::{OutputFormat, Promo, PromoConfig, generate};
use promodb_examples::{WAR_ROOM, scale};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = PromoConfig::new(scale(2_000_000)?);
    let promo = generate(&config);
    let dir = std::env::temp_dir().join(format!("promodb-attach-{}", std::process::id()));
    promo.write_dir(&dir, OutputFormat::Parquet)?;
    let summary = attach_and_compare(&promo, &dir).await;
    std::fs::remove_dir_all(&dir)?;
    summary
}

/// Attaches the files in `dir`, loads them too, and prints the summary from the files,
/// checking it against memory.
async fn attach_and_compare(promo: &Promo, dir: &Path) -> anyhow::Result<()> {
    let attached = PromoDb::in_memory()?;
    let loaded = PromoDb::in_memory()?;
    let (mut attach_seconds, mut load_seconds) = (0.0, 0.0);
    for table in Table::ALL {
        let path = dir.join(format!("{}.parquet", table.name()));
        let path = path.to_string_lossy();
        let began = Instant::now();
        let report = attached.attach(table.name(), &path)?;
        attach_seconds += began.elapsed().as_secs_f64();
        let began = Instant::now();
        loaded.load(table.name(), &path)?;
        load_seconds += began.elapsed().as_secs_f64();
        println!(
            "{:<12} {:>10} rows attached from {path}",
            report.table, report.rows
        );
    }
    // Last year's orders and the targets, which the summary compares against.
    promo.register_comparisons(&attached)?;
    promo.register_comparisons(&loaded)?;
    println!(
        "attached in {attach_seconds:.2} s (footers checked); loaded in {load_seconds:.2} s\n"
    );

    let (mut from_files, mut from_memory) = (0.0, 0.0);
    for (title, sql) in WAR_ROOM {
        let began = Instant::now();
        let answer = pretty_format_batches(&attached.sql(sql).await?)?.to_string();
        from_files += began.elapsed().as_secs_f64();
        let began = Instant::now();
        let same = pretty_format_batches(&loaded.sql(sql).await?)?.to_string();
        from_memory += began.elapsed().as_secs_f64();
        anyhow::ensure!(
            sorted_lines(&answer) == sorted_lines(&same),
            "{title}: the files and memory answer differently"
        );
        println!("== {title} (from the files)\n{answer}\n");
    }
    println!(
        "every answer is the same from the files and from memory; the summary took \
         {:.0} ms from the files and {:.0} ms from memory",
        from_files * 1e3,
        from_memory * 1e3
    );
    Ok(())
}

/// The lines of a printed table, sorted: rows that tie under a query's ORDER BY may come
/// in either order.
fn sorted_lines(table: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = table.lines().collect();
    lines.sort_unstable();
    lines
}
