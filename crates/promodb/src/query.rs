//! SQL over the canonical tables: one DataFusion `SessionContext` per database, a
//! [`TableProvider`](datafusion::catalog::TableProvider) per table that scans a snapshot
//! with time-range and key-lookup pruning, and a runner for scripts of several statements.

mod catalog;
mod dependencies;
mod distinct_rewrite;
mod file_keys;
mod file_scan;
mod key_lookup;
mod keyed_aggregate;
mod packed_sort;
mod plan_cache;
mod provider;
mod segment_source;
mod session;
mod shared_subplan;
mod time_range;

pub(crate) use catalog::PromoSchema;
pub(crate) use dependencies::tables_read;
pub(crate) use plan_cache::PlanCache;
pub use provider::PromoTable;
pub use session::{ScriptStatement, split_statements};
pub(crate) use session::{collect, deal_batches, new_session, run_script, script_dataframe};
pub use time_range::TimeRange;
