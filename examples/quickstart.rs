//! cargo run --example quickstart [-- --scale N]
//!
//! The war room in one run: generates a Double 11 promo in memory (500k user events by
//! default, with last year's promo and hourly targets), ingests it, and prints the
//! summary an ops team watches: headline KPIs, GMV by hour against last year and target,
//! top SKUs, channel ROAS/ROI, the funnel, and the SKUs about to run out.

use std::time::Instant;

use promodb::PromoDb;
use promodb_datagen::{PromoConfig, generate};
use promodb_examples::{WAR_ROOM, print_section, scale};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let began = Instant::now();
    let config = PromoConfig::new(scale(500_000)?);
    let promo = generate(&config);
    let db = PromoDb::in_memory()?;
    let rows = promo.load_into(&db)?;
    println!(
        "Double 11 of {}: {rows} rows generated and ingested in {:.1} s\n",
        config.start.format("%Y-%m-%d"),
        began.elapsed().as_secs_f64()
    );
    for (title, sql) in WAR_ROOM {
        print_section(&db, title, sql).await?;
    }
    println!("done in {:.1} s", began.elapsed().as_secs_f64());
    Ok(())
}
