//! `promodb load`: load files into the canonical tables of a durable database.

use std::path::PathBuf;

use clap::Args;

use super::database;

/// Load files into the canonical tables of a durable database.
///
/// Example:
///
///   promodb load --db data/db orders=data/promo/orders.parquet user_events=events/
///   promodb sql --db data/db "SELECT count(*) FROM orders"
///
/// Each TABLE=PATH reads a file, a directory (recursively) or a glob of .parquet, .csv
/// (with a header) or .jsonl files into canonical table TABLE, checked against its schema;
/// a bad file stores nothing of its load. The database directory is created if missing.
/// The command returns once the rows are persisted (Parquet files and manifest fsynced):
/// if it fails or is killed, the rows it was loading may be missing, never earlier ones.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct LoadArgs {
    /// The database directory.
    #[arg(long, value_name = "DIR")]
    db: PathBuf,

    /// What to load, as TABLE=PATH (file, directory or glob).
    #[arg(value_name = "TABLE=PATH", required = true)]
    loads: Vec<String>,
}

pub(crate) fn run(args: LoadArgs) -> anyhow::Result<()> {
    let db = database::open(Some(&args.db))?;
    let reports = database::load_all(&db, &args.loads)?;
    database::persist(&db)?;
    for report in reports {
        eprintln!(
            "loaded {} rows from {} files into {}",
            report.rows, report.files, report.table
        );
    }
    Ok(())
}
