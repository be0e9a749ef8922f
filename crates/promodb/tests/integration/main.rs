//! The integration tests of promodb, one binary (DataFusion links slowly: one link, not ten).

mod common;

mod alert_runner;
mod alerts;
mod anomaly;
mod attach;
mod bad_input;
mod concurrency;
mod crash;
mod distinct_count;
mod durable;
mod funnel_golden;
mod keyed_aggregate;
mod latest_ts;
mod loading;
mod packed_sort;
mod plan_cache;
mod pruning;
mod rows;
mod rule_file;
mod shared_subplan;
mod slt;
mod views;
mod webhook;
