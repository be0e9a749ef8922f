//! The subcommands of `promodb`.

mod database;
mod generate;
mod load;
mod sql;

use clap::{Parser, Subcommand};

/// promodb: an embedded analytics engine for e-commerce promotions.
///
/// Load promo facts (orders, user_events, payments, refunds, ad_spend, inventory,
/// tickets, shipments, skus) from Parquet, CSV or JSON-lines files into the canonical
/// tables, and query them with SQL (DataFusion's dialect; the session time zone is UTC).
/// The tables live in memory for one command, or in a durable database directory
/// (`--db DIR`). `promodb gen` writes a synthetic promotion to try it on.
#[derive(Debug, Parser)]
#[command(name = "promodb", version, about, long_about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Sql(sql::SqlArgs),
    Load(load::LoadArgs),
    Gen(generate::GenArgs),
}

pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sql(args) => sql::run(args),
        Command::Load(args) => load::run(args),
        Command::Gen(args) => generate::run(args),
    }
}
