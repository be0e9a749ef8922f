//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use promodb::PromoDb;
use promodb::arrow::array::RecordBatch;
use promodb::arrow::datatypes::{DataType, Field};
use promodb::arrow::util::pretty::pretty_format_batches;
use promodb::schema::Table;

/// `testdata/` at the workspace root.
pub(crate) fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// A path under `testdata/fixtures/`, as a string for `PromoDb::load`.
pub(crate) fn fixture(relative: &str) -> String {
    testdata()
        .join("fixtures")
        .join(relative)
        .to_string_lossy()
        .into_owned()
}

/// A database with every table of the small fixture loaded.
pub(crate) fn small_promo() -> PromoDb {
    let db = PromoDb::in_memory().expect("in-memory database");
    for table in Table::ALL {
        db.load(
            table.name(),
            &fixture(&format!("small/{}.csv", table.name())),
        )
        .unwrap_or_else(|e| panic!("loading {table}: {e}"));
    }
    db
}

/// Runs `sql` on a fresh current-thread runtime and returns the batches.
pub(crate) fn query(db: &PromoDb, sql: &str) -> promodb::Result<Vec<RecordBatch>> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(db.sql(sql))
}

/// The result as an ASCII table, for readable assertions.
pub(crate) fn table(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches).expect("format").to_string()
}

/// Asserts two multi-line texts are equal, printing both on failure.
#[track_caller]
pub(crate) fn assert_text_eq(expected: &str, actual: &str) {
    let expected = expected.trim();
    let actual = actual.trim();
    assert!(
        expected == actual,
        "\n--- expected\n{expected}\n--- got\n{actual}\n"
    );
}

/// The non-null columns of `orders` as a producer might send them: `ts` and `amount` as
/// text, for `conform` to convert.
pub(crate) fn text_order_fields() -> Vec<Field> {
    vec![
        Field::new("ts", DataType::Utf8, false),
        Field::new("order_id", DataType::Int64, false),
        Field::new("user_id", DataType::Int64, false),
        Field::new("sku_id", DataType::Int64, false),
        Field::new("qty", DataType::Int64, false),
        Field::new("amount", DataType::Utf8, false),
    ]
}

/// Every row of canonical table `table` of `db`, as one batch.
pub(crate) fn all_rows(db: &PromoDb, table: Table) -> RecordBatch {
    let snapshot = db.snapshot(table.name()).expect("snapshot");
    let batches: Vec<RecordBatch> = snapshot
        .segments()
        .iter()
        .map(|s| s.batch().clone())
        .collect();
    promodb::arrow::compute::concat_batches(snapshot.schema(), &batches).expect("concat")
}

/// Writes `batch` to `path` as one Parquet file with row groups of `group_rows` rows.
pub(crate) fn write_parquet(path: &Path, batch: &RecordBatch, group_rows: usize) {
    let props = promodb::datafusion::parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .build();
    let file = std::fs::File::create(path).expect("create the Parquet file");
    let mut writer = promodb::datafusion::parquet::arrow::ArrowWriter::try_new(
        file,
        batch.schema(),
        Some(props),
    )
    .expect("Parquet writer");
    writer.write(batch).expect("write");
    writer.close().expect("close");
}

/// The `ts` range of each file attached to `table`, in attach order.
pub(crate) fn file_time_ranges(db: &PromoDb, table: Table) -> Vec<Option<(i64, i64)>> {
    let snapshot = db.snapshot(table.name()).expect("snapshot");
    snapshot.files().iter().map(|f| f.time_range()).collect()
}

/// The minutes each file attached to `table` spans.
pub(crate) fn file_minutes(db: &PromoDb, table: Table) -> Vec<Option<i64>> {
    file_time_ranges(db, table)
        .into_iter()
        .map(|range| range.map(|(lo, hi)| (hi - lo) / 60_000_000))
        .collect()
}
