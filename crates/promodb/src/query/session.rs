//! The DataFusion session of a database, and running scripts of several statements.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::registry::FunctionRegistry;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::optimizer::{Optimizer, OptimizerRule};
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{SetExpr, Statement};
use futures::FutureExt;

use super::distinct_rewrite::SingleDistinctWhereFaster;
use super::keyed_aggregate::KeyedAggregation;
use super::packed_sort::PackedKeySort;
use super::plan_cache::PlanCache;
use super::shared_subplan::ShareRepeatedAggregates;
use crate::functions::{ExtractPlanner, ListElementRewrite};

use crate::error::{Error, Result};
use crate::schema::Table;

/// Up to this many rows (and `BROADCAST_JOIN_BYTES`), a hash join's smaller side is
/// built once and shared by every partition instead of both sides being repartitioned
/// by hash. DataFusion's defaults (128k rows, 1 MiB) are sized for many cores; on the
/// few cores an embedded engine gets, repartitioning the big side costs more than
/// building the small one alone: a user's timeline (semi-joins of 1.56M shipments on
/// the user's few orders) went from 65 / 58 to 42 / 53 ms, the rest of the suite within
/// noise (docs/benchmarks.md).
const BROADCAST_JOIN_ROWS: u64 = 2_000_000;
const BROADCAST_JOIN_BYTES: u64 = 64 * 1024 * 1024;

/// A session with promodb's settings: UTC as the SQL time zone (so `now()` and timestamp
/// literals compare with `ts` without surprises), `information_schema` on, the given
/// number of partitions, broadcast joins up to `BROADCAST_JOIN_ROWS`, and DataFusion's
/// optimizer rules with the single-distinct rewrite left out where promodb's per-group
/// value lists are faster, aggregations by one integer-like or text key run on
/// promodb's group tables, an aggregation repeated in one plan computed once, full sorts
/// by fixed-width keys on packed keys, `EXTRACT` planned as promodb's
/// `date_part`, and `list[i]` planned with promodb's gathering `array_element`.
pub(crate) fn new_session(target_partitions: usize) -> Result<SessionContext> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_target_partitions(target_partitions)
        .set_str("datafusion.execution.time_zone", "UTC")
        .set_u64(
            "datafusion.optimizer.hash_join_single_partition_threshold_rows",
            BROADCAST_JOIN_ROWS,
        )
        .set_u64(
            "datafusion.optimizer.hash_join_single_partition_threshold",
            BROADCAST_JOIN_BYTES,
        );
    let distinct_rewrite: Arc<dyn OptimizerRule + Send + Sync> =
        Arc::new(SingleDistinctWhereFaster::default());
    let rules = Optimizer::new()
        .rules
        .into_iter()
        .map(|rule| match rule.name() == distinct_rewrite.name() {
            true => Arc::clone(&distinct_rewrite),
            false => rule,
        })
        .collect();
    let mut physical_rules = PhysicalOptimizer::new().rules;
    // Before the late filter pushdown, so that no join's dynamic filter reaches inside a
    // shared aggregation.
    let late_pushdown = physical_rules
        .iter()
        .position(|rule| rule.name() == "FilterPushdown(Post)")
        .ok_or_else(|| {
            Error::Internal("DataFusion's FilterPushdown(Post) rule is missing".to_string())
        })?;
    physical_rules.insert(late_pushdown, Arc::new(ShareRepeatedAggregates));
    physical_rules.push(Arc::new(KeyedAggregation));
    physical_rules.push(Arc::new(PackedKeySort));
    let mut builder = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_optimizer_rules(rules)
        .with_physical_optimizer_rules(physical_rules);
    // `EXTRACT` planned as promodb's `date_part`, before DataFusion's planner does it.
    builder
        .expr_planners()
        .get_or_insert_with(Vec::new)
        .insert(0, Arc::new(ExtractPlanner));
    let mut state = builder.build();
    state.register_function_rewrite(Arc::new(ListElementRewrite))?;
    Ok(SessionContext::new_with_state(state))
}

/// Runs every statement of `sql` in order and returns the rows of the last one. A script
/// of one query runs from its kept plan in `plans` when there is a valid one (and keeps
/// its plan when it may); any other script clears `plans`.
pub(crate) async fn run_script(
    ctx: &SessionContext,
    plans: &PlanCache,
    sql: &str,
) -> Result<Vec<RecordBatch>> {
    catching_panics(async {
        let mut statements = DFParser::parse_sql(sql)?;
        if statements.len() == 1
            && statements.front().is_some_and(is_select)
            && let Some(query) = statements.pop_front()
        {
            return plans.run_query(ctx, sql, query).await;
        }
        plans.clear();
        let rows = plan_statements(ctx, statements).await?.collect().await;
        // What the script changed (a table created, a setting) is in place only now.
        plans.clear();
        Ok(rows?)
    })
    .await
}

/// Runs `frame` and returns its rows, a panic caught as [`catching_panics`] does.
pub(crate) async fn collect(frame: DataFrame) -> Result<Vec<RecordBatch>> {
    catching_panics(async { Ok(frame.collect().await?) }).await
}

/// Runs `work`. A panic inside the engine while it runs is the statement's
/// [`Error::Internal`] instead of the caller's crash: DataFusion 55 unwraps some settings
/// at execution (a bad `SET datafusion.execution.parquet.coerce_int96` panics in its
/// Parquet scan), and a service must outlive a bad statement. Statements read canonical
/// tables and never write their rows, so every row accepted stays.
async fn catching_panics<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => Err(Error::Internal(format!(
            "the query panicked: {}",
            panic_message(panic.as_ref())
        ))),
    }
}

/// The message a panic was raised with, when it is text.
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(message) = panic.downcast_ref::<&str>() {
        message
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message
    } else {
        "(no message)"
    }
}

/// Runs every statement of `sql` but the last, and returns the last one as a DataFrame
/// for further composition; a panic while they run is caught as [`catching_panics`] does.
/// The statements run may change what kept plans depend on: `plans` is cleared.
pub(crate) async fn script_dataframe(
    ctx: &SessionContext,
    plans: &PlanCache,
    sql: &str,
) -> Result<DataFrame> {
    plans.clear();
    let frame =
        catching_panics(async { plan_statements(ctx, DFParser::parse_sql(sql)?).await }).await;
    plans.clear();
    frame
}

/// Runs every statement but the last, and returns the last as a DataFrame.
async fn plan_statements(
    ctx: &SessionContext,
    mut statements: VecDeque<DfStatement>,
) -> Result<DataFrame> {
    let last = statements
        .pop_back()
        .ok_or_else(|| Error::Sql("no SQL statement was given".to_string()))?;
    for statement in statements {
        let plan = ctx.state().statement_to_plan(statement).await?;
        execute_planned(ctx, plan).await?.collect().await?;
    }
    let plan = ctx.state().statement_to_plan(last).await?;
    execute_planned(ctx, plan).await
}

/// Runs a planned statement: DDL and settings at once (canonical tables and built-in
/// views refused, a created table spread over the partitions), a query or DML as the
/// DataFrame returned.
pub(super) async fn execute_planned(ctx: &SessionContext, plan: LogicalPlan) -> Result<DataFrame> {
    refuse_canonical_ddl(&plan)?;
    let created = created_table(&plan);
    let frame = ctx.execute_logical_plan(plan).await?;
    spread_created_table(ctx, created).await?;
    Ok(frame)
}

/// The table a `CREATE TABLE ... AS` plan creates (DDL runs when the plan is executed).
fn created_table(plan: &LogicalPlan) -> Option<TableReference> {
    match plan {
        LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) => Some(create.name.clone()),
        _ => None,
    }
}

/// `CREATE TABLE ... AS SELECT` keeps the partitions its query produced: a small Parquet
/// file is read as one (the table then has its batches in one partition and nothing in
/// the others), and every later scan of the table runs on one core (last
/// year's orders grouped by hour: 39 ms on one core beside 54 ms over two for this
/// year's). The table's batches are dealt over the session's partitions instead, as
/// `PromoDb::register_batches` does.
async fn spread_created_table(ctx: &SessionContext, name: Option<TableReference>) -> Result<()> {
    let Some(name) = name else { return Ok(()) };
    let partitions = ctx.copied_config().target_partitions().max(1);
    let provider = ctx.table_provider(name.clone()).await?;
    let Some(memory) = provider.downcast_ref::<MemTable>() else {
        return Ok(());
    };
    let mut batches = Vec::new();
    let mut per_partition = Vec::new();
    for partition in &memory.batches {
        let partition = partition.read().await;
        per_partition.push(partition.len());
        batches.extend(partition.iter().cloned());
    }
    // Already dealt (or nothing to deal): leave the table as it is.
    let dealt: Vec<usize> = deal_batches(vec![(); batches.len()], partitions)
        .iter()
        .map(Vec::len)
        .collect();
    if per_partition == dealt {
        return Ok(());
    }
    let schema = memory.schema();
    let defaults = schema
        .fields()
        .iter()
        .filter_map(|field| {
            let default = memory.get_column_default(field.name())?;
            Some((field.name().clone(), default.clone()))
        })
        .collect();
    let constraints = memory.constraints().cloned().unwrap_or_default();
    let spread = MemTable::try_new(schema, deal_batches(batches, partitions))?
        .with_constraints(constraints)
        .with_column_defaults(defaults);
    ctx.deregister_table(name.clone())?;
    ctx.register_table(name, Arc::new(spread))?;
    Ok(())
}

/// `batches` dealt round-robin over at most `partitions` partitions (as many as there
/// are batches, when fewer), so that scans of the table run in parallel.
pub(crate) fn deal_batches<B: Clone>(batches: Vec<B>, partitions: usize) -> Vec<Vec<B>> {
    let mut dealt = vec![Vec::new(); partitions.max(1).min(batches.len().max(1))];
    let hands = dealt.len();
    for (i, batch) in batches.into_iter().enumerate() {
        dealt[i % hands].push(batch);
    }
    dealt
}

/// Canonical tables and built-in views belong to the database: DDL may not drop or replace them (DataFusion
/// would report a confusing "doesn't exist", or with `IF EXISTS` silently do nothing).
fn refuse_canonical_ddl(plan: &LogicalPlan) -> Result<()> {
    let LogicalPlan::Ddl(ddl) = plan else {
        return Ok(());
    };
    let name = match ddl {
        DdlStatement::DropTable(drop) => &drop.name,
        DdlStatement::DropView(drop) => &drop.name,
        DdlStatement::CreateMemoryTable(create) => &create.name,
        DdlStatement::CreateView(create) => &create.name,
        DdlStatement::CreateExternalTable(create) => &create.name,
        _ => return Ok(()),
    };
    match name.table().parse::<Table>() {
        Ok(table) if table.name() == name.table() => Err(Error::Sql(format!(
            "'{table}' is a canonical promodb table: it cannot be dropped or replaced"
        ))),
        _ if crate::views::is_builtin_view(name.table()) => Err(Error::Sql(format!(
            "'{}' is a built-in promodb view: it cannot be dropped or replaced",
            name.table()
        ))),
        _ => Ok(()),
    }
}

/// One statement of a script, as text, for callers that run statements one at a time
/// (the CLI's `--timing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptStatement {
    sql: String,
    is_query: bool,
}

impl ScriptStatement {
    /// The statement's SQL.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Whether it only reads (a `SELECT`, `WITH`, `VALUES` or `EXPLAIN`), so running it
    /// again changes nothing.
    pub fn is_query(&self) -> bool {
        self.is_query
    }
}

/// Splits a script into its statements.
pub fn split_statements(sql: &str) -> Result<Vec<ScriptStatement>> {
    Ok(DFParser::parse_sql(sql)?
        .into_iter()
        .map(|statement| {
            let is_query = is_select(&statement) || matches!(statement, DfStatement::Explain(_));
            ScriptStatement {
                sql: statement.to_string(),
                is_query,
            }
        })
        .collect())
}

/// Whether `statement` is a `SELECT`, `WITH` or `VALUES` query, and not a
/// `SELECT ... INTO`, which creates a table (a kept plan checks its plan again).
fn is_select(statement: &DfStatement) -> bool {
    let DfStatement::Statement(statement) = statement else {
        return false;
    };
    let Statement::Query(query) = statement.as_ref() else {
        return false;
    };
    !matches!(query.body.as_ref(), SetExpr::Select(select) if select.into.is_some())
}
