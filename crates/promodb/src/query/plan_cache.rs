//! Physical plans of queries run again and again (a war-room screen refreshing its
//! panels, several people opening the same dashboard), kept and run again while nothing
//! they were planned from has changed.
//!
//! Planning in DataFusion 55 (SQL to logical plan, the analyzer and optimizer, the
//! physical planner and optimizer) is a large share of a short query: the stock-risk
//! query over Parquet takes 29 ms from a kept plan and 36 ms planned each run, a
//! channel ROAS 9 ms and 16-19 (docs/benchmarks.md, "Session 20"). A repeated query
//! skips all of it: its plan
//! is kept as it stands before DataFusion's late filter pushdown, and each run takes a
//! fresh copy of it (`fresh_copy`: every node's run state reset, the copies of a shared
//! aggregation sharing one new result), then runs the late rules on that copy, so that
//! the join and top-k runtime filters are made anew and wired to the copy's own scans.
//!
//! A plan is kept only when running it again gives what planning again would:
//! - the statement is one `SELECT` (or `WITH`, `VALUES`), not `EXPLAIN`;
//! - it reads canonical tables, views and in-memory tables only (not files registered
//!   ad hoc, which may change on disk unseen, nor table functions);
//! - it calls no function whose value may change between runs once planned
//!   (`now()`, `current_date`, `random()`), except `latest_ts`, which depends only on the
//!   tables' rows.
//!
//! It is run again only while the session's settings are the same object, each table it
//! names resolves to the same table, no canonical table it reads (or whose latest `ts` it
//! reads) has taken an append, attach or detach since it was planned, and no attached file
//! of those tables changed on disk. Any statement that is not such a query clears the
//! cache. The cache holds the last [`CAPACITY`] plans.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{HashMap, TableReference};
use datafusion::datasource::{MemTable, ViewTable, source_as_provider};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::TaskContext;
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::sql::parser::Statement;

use super::dependencies::tables_read;
use super::file_scan::unchanged;
use super::provider::PromoTable;
use super::session::execute_planned;
use super::shared_subplan::{SharedResult, SharedSubplanExec};
use crate::error::{Error, Result};
use crate::schema::Table;
use crate::storage::{Changes, TableStore};

/// Plans kept, the most recently used last.
const CAPACITY: usize = 32;

/// The first physical optimizer rule run on every copy of a kept plan rather than on the
/// kept plan: DataFusion's late filter pushdown, which wires each join's and top-k's
/// runtime filter to the scans below it.
const FIRST_LATE_RULE: &str = "FilterPushdown(Post)";

type Rules = Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>>;

/// A table a kept plan names: the name, its provider, and for an in-memory table the
/// fingerprint of its rows.
type Name = (TableReference, Arc<dyn TableProvider>, Option<Vec<usize>>);

/// The kept plans of one database.
#[derive(Debug)]
pub(crate) struct PlanCache {
    plans: Mutex<VecDeque<KeptPlan>>,
    /// Runs from a kept plan.
    reruns: AtomicU64,
    /// Times the plans were forgotten: a plan made while a statement cleared them is
    /// not kept (it may have read what the statement changed).
    clears: AtomicU64,
    changes: Arc<Changes>,
    stores: Vec<Arc<TableStore>>,
}

/// A plan and what it was planned from.
#[derive(Debug, Clone)]
struct KeptPlan {
    sql: String,
    /// The physical plan before the late rules; never run itself.
    plan: Arc<dyn ExecutionPlan>,
    /// The session settings it was planned with.
    settings: Arc<ConfigOptions>,
    /// Each table the query names, the provider it resolved to, and for an in-memory
    /// table, what its rows were (`memory_fingerprint`).
    names: Vec<Name>,
    /// The canonical tables it reads, with their append counters before planning.
    versions: Vec<(Table, u64)>,
}

impl PlanCache {
    /// An empty cache over the tables of `stores`, whose appends `changes` counts.
    pub(crate) fn new(changes: Arc<Changes>, stores: Vec<Arc<TableStore>>) -> Self {
        PlanCache {
            plans: Mutex::new(VecDeque::new()),
            reruns: AtomicU64::new(0),
            clears: AtomicU64::new(0),
            changes,
            stores,
        }
    }

    /// Forgets every plan (after a statement that may change what they depend on).
    pub(crate) fn clear(&self) {
        let mut plans = self.lock();
        plans.clear();
        self.clears.fetch_add(1, Ordering::SeqCst);
    }

    /// Plans kept now.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Queries run from a kept plan so far.
    pub(crate) fn reruns(&self) -> u64 {
        self.reruns.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<KeptPlan>> {
        self.plans.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the query `statement` (whose text is `sql`), from its kept plan when there is
    /// one still valid, planning it (and keeping the plan, when it may be) otherwise.
    pub(crate) async fn run_query(
        &self,
        ctx: &SessionContext,
        sql: &str,
        statement: Statement,
    ) -> Result<Vec<RecordBatch>> {
        let state = ctx.state();
        let (early, late) = split_rules(&state)?;
        if let Some(kept) = self.valid_plan(ctx, &state, sql).await? {
            let rows = run(fresh_copy(&kept)?, &late, &state).await?;
            self.reruns.fetch_add(1, Ordering::Relaxed);
            return Ok(rows);
        }
        let clears = self.clears.load(Ordering::SeqCst);
        let versions = self.changes.versions();
        let logical = state.statement_to_plan(statement).await?;
        if !is_query_plan(&logical) {
            // `SELECT ... INTO t` parses as a query and plans as `CREATE TABLE`.
            self.clear();
            let rows = match execute_planned(ctx, logical).await {
                Ok(frame) => frame.collect().await.map_err(Error::from),
                Err(error) => Err(error),
            };
            self.clear();
            return rows;
        }
        let analyzed = state.analyzer().execute_and_check(
            logical.clone(),
            state.config_options(),
            |_, _| {},
        )?;
        let names = match replayable_names(&logical, &analyzed) {
            Some(names) => Some(with_fingerprints(names).await),
            None => None,
        };
        let optimized = state.optimizer().optimize(analyzed, &state, |_, _| {})?;
        let Some(names) = names else {
            let plan = state
                .query_planner()
                .create_physical_plan(&optimized, &state)
                .await?;
            return Ok(collect(plan, Arc::new(TaskContext::from(&state))).await?);
        };
        let early_state = SessionStateBuilder::new_from_existing(state.clone())
            .with_physical_optimizer_rules(early)
            .build();
        let plan = early_state
            .query_planner()
            .create_physical_plan(&optimized, &early_state)
            .await?;
        let read = tables_read(&logical);
        self.keep(
            KeptPlan {
                sql: sql.to_string(),
                plan: Arc::clone(&plan),
                settings: Arc::clone(state.config().options()),
                names,
                versions: read.iter().map(|&t| (t, versions[t as usize])).collect(),
            },
            clears,
        );
        run(fresh_copy(&plan)?, &late, &state).await
    }

    /// The kept plan of `sql`, if what it was planned from is unchanged; a stale plan is
    /// dropped.
    async fn valid_plan(
        &self,
        ctx: &SessionContext,
        state: &SessionState,
        sql: &str,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(kept) = self.lock().iter().find(|kept| kept.sql == sql).cloned() else {
            return Ok(None);
        };
        if self.still_valid(&kept, ctx, state).await? {
            let mut plans = self.lock();
            // The most recently used last, so that the least recently used goes first.
            if let Some(at) = plans.iter().position(|p| Arc::ptr_eq(&p.plan, &kept.plan)) {
                let used = plans.remove(at);
                plans.extend(used);
            }
            return Ok(Some(kept.plan));
        }
        self.lock().retain(|p| !Arc::ptr_eq(&p.plan, &kept.plan));
        Ok(None)
    }

    async fn still_valid(
        &self,
        kept: &KeptPlan,
        ctx: &SessionContext,
        state: &SessionState,
    ) -> Result<bool> {
        if !Arc::ptr_eq(state.config().options(), &kept.settings) {
            return Ok(false);
        }
        let versions = self.changes.versions();
        if kept
            .versions
            .iter()
            .any(|&(t, v)| versions[t as usize] != v)
        {
            return Ok(false);
        }
        for (name, provider, fingerprint) in &kept.names {
            let Ok(now) = ctx.table_provider(name.clone()).await else {
                return Ok(false);
            };
            if !same_table(provider, &now) || memory_fingerprint(provider).await != *fingerprint {
                return Ok(false);
            }
        }
        // A file changed on disk: planning again fails if it reads the file, and skips
        // it if the query's filters rule it out.
        for &(table, _) in &kept.versions {
            let snapshot = self.stores[table as usize].snapshot()?;
            if snapshot.files().iter().any(|file| unchanged(file).is_err()) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Keeps `plan`, unless the plans were forgotten since `clears` was read.
    fn keep(&self, plan: KeptPlan, clears: u64) {
        let mut plans = self.lock();
        if self.clears.load(Ordering::SeqCst) != clears {
            return;
        }
        plans.retain(|p| p.sql != plan.sql);
        if plans.len() == CAPACITY {
            plans.pop_front();
        }
        plans.push_back(plan);
    }
}

/// The session's physical optimizer rules before [`FIRST_LATE_RULE`], and from it on.
fn split_rules(state: &SessionState) -> Result<(Rules, Rules)> {
    let rules = state.physical_optimizers();
    let late = rules
        .iter()
        .position(|rule| rule.name() == FIRST_LATE_RULE)
        .ok_or_else(|| Error::Internal(format!("the {FIRST_LATE_RULE} rule is missing")))?;
    Ok((rules[..late].to_vec(), rules[late..].to_vec()))
}

/// Runs `late` over `plan`, then `plan`.
async fn run(
    mut plan: Arc<dyn ExecutionPlan>,
    late: &Rules,
    state: &SessionState,
) -> Result<Vec<RecordBatch>> {
    for rule in late {
        plan = rule.optimize_with_context(plan, state)?;
    }
    Ok(collect(plan, Arc::new(TaskContext::from(state))).await?)
}

/// Whether `plan` is a query (and not a statement that the SQL parser saw as one).
fn is_query_plan(plan: &LogicalPlan) -> bool {
    !matches!(
        plan,
        LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::DescribeTable(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
    )
}

/// `names` with the fingerprint of each in-memory table's rows.
async fn with_fingerprints(names: Vec<(TableReference, Arc<dyn TableProvider>)>) -> Vec<Name> {
    let mut printed = Vec::with_capacity(names.len());
    for (name, provider) in names {
        let fingerprint = memory_fingerprint(&provider).await;
        printed.push((name, provider, fingerprint));
    }
    printed
}

/// For an in-memory table, which rows it holds: per partition, the number of batches
/// and the address of each column of each batch. `INSERT` adds batches, `DELETE`
/// replaces them, `UPDATE` replaces the columns it sets, wherever they are run from
/// (the session, a DataFrame).
async fn memory_fingerprint(provider: &Arc<dyn TableProvider>) -> Option<Vec<usize>> {
    let table = provider.downcast_ref::<MemTable>()?;
    let mut fingerprint = Vec::new();
    for partition in &table.batches {
        let batches = partition.read().await;
        fingerprint.push(batches.len());
        fingerprint.extend(
            batches
                .iter()
                .flat_map(|batch| batch.columns())
                .map(|column| Arc::as_ptr(column) as *const () as usize),
        );
    }
    Some(fingerprint)
}

/// Whether the provider a name resolved to at planning is still the one it resolves to:
/// the same object, or for a canonical table (a fresh provider at each lookup, whose
/// rows the append counters follow) the same table.
fn same_table(kept: &Arc<dyn TableProvider>, now: &Arc<dyn TableProvider>) -> bool {
    if std::ptr::addr_eq(Arc::as_ptr(kept), Arc::as_ptr(now)) {
        return true;
    }
    match (
        kept.downcast_ref::<PromoTable>(),
        now.downcast_ref::<PromoTable>(),
    ) {
        (Some(kept), Some(now)) => kept.table() == now.table(),
        _ => false,
    }
}

/// The tables `logical` (as planned from SQL, views not yet inlined) and `analyzed` (views
/// inlined) scan, each with its provider, if the query may be kept: it scans only
/// canonical tables, views and in-memory tables, calls no function whose value may change
/// once planned but `latest_ts`, and is no recursive query.
fn replayable_names(
    logical: &LogicalPlan,
    analyzed: &LogicalPlan,
) -> Option<Vec<(TableReference, Arc<dyn TableProvider>)>> {
    let mut names = Vec::new();
    let mut replayable = true;
    for plan in [logical, analyzed] {
        // The closures never fail.
        let _ = plan.apply_with_subqueries(|node| {
            match node {
                LogicalPlan::TableScan(scan) => match source_as_provider(&scan.source) {
                    Ok(provider) if kept_provider(&provider) => {
                        names.push((scan.table_name.clone(), provider));
                    }
                    _ => replayable = false,
                },
                LogicalPlan::RecursiveQuery(_) | LogicalPlan::Extension(_) => replayable = false,
                _ => {}
            }
            let _ = node.apply_expressions(|expr| {
                expr.apply(|expr| {
                    if !fixed_once_planned(expr) {
                        replayable = false;
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
            });
            Ok(match replayable {
                true => TreeNodeRecursion::Continue,
                false => TreeNodeRecursion::Stop,
            })
        });
    }
    replayable.then_some(names)
}

/// Whether scans of `provider` read what the plan holds: a canonical table (its rows
/// followed by the append counters), a view (its tables checked in turn), or an
/// in-memory table (whose rows only change by statements, which clear the cache).
fn kept_provider(provider: &Arc<dyn TableProvider>) -> bool {
    provider.is::<PromoTable>() || provider.is::<ViewTable>() || provider.is::<MemTable>()
}

/// Whether `expr` gives the same value in every run of a plan made once: no placeholder,
/// no scalar subquery, no stable or volatile function but `latest_ts` of literal names.
fn fixed_once_planned(expr: &Expr) -> bool {
    match expr {
        // Only literal table names are followed (`tables_read`); a name computed by an
        // expression would be folded unseen.
        Expr::ScalarFunction(call) if call.func.name() == "latest_ts" => {
            call.args.iter().all(|arg| matches!(arg, Expr::Literal(..)))
        }
        Expr::ScalarFunction(call) => call.func.signature().volatility == Volatility::Immutable,
        // An uncorrelated scalar subquery runs once per run into a result holder that
        // every copy of the plan shares: two runs at once would clear each other's.
        Expr::ScalarSubquery(_) | Expr::Placeholder(_) => false,
        _ => true,
    }
}

/// A copy of the kept `plan` that runs as if planned anew: each node's run state reset
/// (a hash join's built side, a repartition's channels, a top-k's filter), a min/max
/// aggregate's runtime filter made anew, and the copies of a shared aggregation sharing
/// one new result.
fn fresh_copy(plan: &Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let mut shared_results: HashMap<usize, Arc<SharedResult>> = HashMap::default();
    let copy = Arc::clone(plan).transform_up(|node| {
        if let Some(shared) = node.downcast_ref::<SharedSubplanExec>() {
            return Ok(Transformed::yes(
                shared.with_result_of_run(&mut shared_results),
            ));
        }
        if let Some(sort) = node.downcast_ref::<SortExec>()
            && sort.fetch().is_none()
        {
            // Its reset gives it a top-k filter, which a sort without a limit never
            // updates but which the late pushdown would still hand to the scans.
            let fresh = SortExec::new(sort.expr().clone(), Arc::clone(sort.input()))
                .with_preserve_partitioning(sort.preserve_partitioning());
            return Ok(Transformed::yes(Arc::new(fresh) as Arc<dyn ExecutionPlan>));
        }
        if let Some(aggregate) = node.downcast_ref::<AggregateExec>()
            && !aggregate.dynamic_expressions_produced().is_empty()
        {
            // Its reset keeps the filter of the last run; planning it again makes one.
            let fresh = AggregateExec::try_new(
                *aggregate.mode(),
                aggregate.group_expr().clone(),
                aggregate.aggr_expr().to_vec(),
                aggregate.filter_expr().to_vec(),
                Arc::clone(aggregate.input()),
                aggregate.input_schema(),
            )?
            .with_limit_options(aggregate.limit_options());
            return Ok(Transformed::yes(Arc::new(fresh) as Arc<dyn ExecutionPlan>));
        }
        Ok(Transformed::yes(node.reset_state()?))
    })?;
    Ok(copy.data)
}
