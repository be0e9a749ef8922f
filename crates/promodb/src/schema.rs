//! The canonical promo fact model (SCHEMA.md) as code, and [`conform`], which turns an
//! incoming Arrow batch into the canonical types.
//!
//! Canonical types in memory:
//!
//! | SQL type | Arrow type | why |
//! |---|---|---|
//! | `TIMESTAMP` | `Timestamp(Microsecond, "UTC")` | one unit and zone everywhere, so unions and `now()` agree |
//! | `BIGINT` | `Int64` | ids and counts |
//! | `VARCHAR` | `Utf8View` | groups fastest in DataFusion 55 (a `Dictionary` key sends `GROUP BY` to the row path) |
//! | `DECIMAL(18,2)` | `Decimal128(18, 2)` | money, never a float |

mod conform;
mod money;
mod tables;

pub use conform::conform;
pub(crate) use money::MAX_CENTS;
pub use money::Money;
pub use tables::{ColumnDef, ColumnType, Table, TableDef};
