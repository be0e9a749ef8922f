//! Opening the database a command works on, and loading files into it.

use std::path::Path;

use anyhow::Context;
use promodb::PromoDb;
use promodb::durable::Durability;
use promodb::ingest::LoadReport;

/// The durable database in `dir`, or an in-memory one.
///
/// Commands load files in bulk and succeed or fail as a whole, so a durable database is
/// opened without a WAL ([`Durability::None`]) and [`persist`]ed before the command
/// reports success: a crash in the middle loses the command's rows, never earlier ones.
pub(crate) fn open(dir: Option<&Path>) -> anyhow::Result<PromoDb> {
    match dir {
        Some(dir) => PromoDb::builder()
            .with_durability(Durability::None)
            .open(dir)
            .with_context(|| format!("cannot open the database in {}", dir.display())),
        None => Ok(PromoDb::in_memory()?),
    }
}

/// Makes what the command appended durable (nothing to do in memory).
pub(crate) fn persist(db: &PromoDb) -> anyhow::Result<()> {
    db.checkpoint().context("cannot persist the database")
}

/// Loads each `TABLE=PATH` into its canonical table.
pub(crate) fn load_all(db: &PromoDb, loads: &[String]) -> anyhow::Result<Vec<LoadReport>> {
    each_pair(loads, "--load expects TABLE=PATH", |table, path| {
        db.load(table, path)
    })
}

/// Attaches each `TABLE=PATH` of Parquet files to its canonical table, read in place.
pub(crate) fn attach_all(db: &PromoDb, attaches: &[String]) -> anyhow::Result<Vec<LoadReport>> {
    each_pair(attaches, "--attach expects TABLE=PATH", |table, path| {
        db.attach(table, path)
    })
}

/// Runs `action` on each `TABLE=PATH` pair, in order, stopping at the first failure.
fn each_pair(
    pairs: &[String],
    usage: &str,
    action: impl Fn(&str, &str) -> promodb::Result<LoadReport>,
) -> anyhow::Result<Vec<LoadReport>> {
    pairs
        .iter()
        .map(|pair| {
            let (table, path) = split_pair(pair, usage)?;
            Ok(action(table, path)?)
        })
        .collect()
}

/// Splits `NAME=PATH`; `usage` says what was expected when there is no `=`.
pub(crate) fn split_pair<'a>(pair: &'a str, usage: &str) -> anyhow::Result<(&'a str, &'a str)> {
    pair.split_once('=')
        .with_context(|| format!("{usage}, got '{pair}'"))
}
