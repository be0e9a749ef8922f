//! `promodb gen`: write a synthetic promotion to a directory.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::{ArgGroup, Args, ValueEnum};
use promodb::schema::Table;
use promodb_datagen::{IncidentSet, OutputFormat, PromoConfig, generate_with_progress};

use super::database;

/// Generate a synthetic Double 11 promotion: every canonical table, last year's promo,
/// hourly targets and labelled incidents.
///
/// Example:
///
///   promodb gen --scale 1000000 --seed 42 --out data/promo
///   promodb sql --load orders=data/promo/orders.parquet "SELECT count(*) FROM orders"
///
///   promodb gen --scale 1000000 --db data/db
///   promodb sql --db data/db "SELECT count(*) FROM orders"
///
/// --out DIR receives TABLE.parquet (or .csv) for each canonical table, last_year/ with
/// last year's user_events, orders and payments, targets.parquet (hourly GMV and order
/// targets) and incidents.csv (kind,key,start,end: the ground truth of the injected
/// incidents). --db DIR appends the canonical tables to the durable database in DIR
/// (created if missing) and returns once they are persisted; give both to get both.
/// The same --scale and --seed give the same rows on every machine.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
#[command(group(ArgGroup::new("target").required(true).multiple(true).args(["out", "db"])))]
pub(crate) struct GenArgs {
    /// About how many user_events rows; every other table scales with it.
    #[arg(long, default_value_t = 1_000_000)]
    scale: usize,

    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Directory to write files to (created if missing).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Durable database to append the canonical tables to (created if missing).
    #[arg(long, value_name = "DIR")]
    db: Option<PathBuf>,

    /// File format.
    #[arg(long, value_enum, default_value_t = FileFormat::Parquet)]
    format: FileFormat,

    /// Incidents to inject.
    #[arg(long, value_enum, default_value_t = Incidents::Default)]
    incidents: Incidents,

    /// Skip last year's promo and the targets.
    #[arg(long)]
    no_last_year: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FileFormat {
    Parquet,
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Incidents {
    Default,
    None,
}

pub(crate) fn run(args: GenArgs) -> anyhow::Result<()> {
    if args.scale == 0 {
        anyhow::bail!("--scale must be at least 1");
    }
    let config = PromoConfig::new(args.scale)
        .with_seed(args.seed)
        .with_incidents(match args.incidents {
            Incidents::Default => IncidentSet::Default,
            Incidents::None => IncidentSet::None,
        })
        .with_last_year(!args.no_last_year);
    let format = match args.format {
        FileFormat::Parquet => OutputFormat::Parquet,
        FileFormat::Csv => OutputFormat::Csv,
    };
    let began = Instant::now();
    let mut bar = ProgressBar::new(std::io::stderr().is_terminal());
    let promo = generate_with_progress(&config, &mut |stage, done| bar.show(stage, done));
    let mut written = Vec::new();
    if let Some(out) = &args.out {
        bar.show("writing files", 0.0);
        let files = promo.write_dir(out, format)?;
        written.push(format!("{} files to {}", files.len(), out.display()));
    }
    if let Some(dir) = &args.db {
        bar.show("persisting", 0.0);
        let db = database::open(Some(dir))?;
        let rows = promo.load_into(&db)?;
        database::persist(&db)?;
        written.push(format!("{rows} rows to the database in {}", dir.display()));
    }
    bar.finish();
    for table in Table::ALL {
        eprintln!("{:>12} {:>10} rows", table.name(), promo.rows(table));
    }
    eprintln!(
        "wrote {} in {:.1} s ({} incidents labelled)",
        written.join(" and "),
        began.elapsed().as_secs_f64(),
        promo.incidents().len()
    );
    Ok(())
}

/// A one-line bar on a terminal, redrawn in place; nothing when stderr is not a terminal.
struct ProgressBar {
    enabled: bool,
    last: Option<(String, usize)>,
}

impl ProgressBar {
    fn new(enabled: bool) -> Self {
        ProgressBar {
            enabled,
            last: None,
        }
    }

    fn show(&mut self, stage: &str, done: f64) {
        if !self.enabled {
            return;
        }
        let percent = (done.clamp(0.0, 1.0) * 100.0) as usize;
        let key = (stage.to_string(), percent);
        if self.last.as_ref() == Some(&key) {
            return;
        }
        let filled = percent / 5;
        eprint!(
            "\r[{}{}] {percent:>3}% {stage:<16}",
            "#".repeat(filled),
            " ".repeat(20 - filled)
        );
        let _ = std::io::stderr().flush();
        self.last = Some(key);
    }

    fn finish(&mut self) {
        if self.enabled {
            eprintln!();
        }
    }
}
