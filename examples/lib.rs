//! Shared helpers for the examples.

use std::path::PathBuf;

use promodb::PromoDb;
use promodb::schema::Table;

/// `testdata/fixtures/small/`, the small hand-checkable promo shipped with the repository.
pub fn small_fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/fixtures/small")
}

/// Loads every canonical table of the small fixture into `db`.
pub fn load_small_fixture(db: &PromoDb) -> promodb::Result<usize> {
    let mut rows = 0;
    for table in Table::ALL {
        let path = small_fixture_dir().join(format!("{}.csv", table.name()));
        rows += db.load(table.name(), &path.to_string_lossy())?.rows;
    }
    Ok(rows)
}
