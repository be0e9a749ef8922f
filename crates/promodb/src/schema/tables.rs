//! The canonical tables and their columns.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::error::{Error, Result};

/// The SQL type of a canonical column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// `TIMESTAMP`, microseconds, UTC.
    Timestamp,
    /// `BIGINT`.
    BigInt,
    /// `VARCHAR`.
    Text,
    /// `DECIMAL(18,2)`.
    Money,
}

impl ColumnType {
    /// The Arrow type promodb holds this column in.
    pub fn arrow_type(self) -> DataType {
        match self {
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColumnType::BigInt => DataType::Int64,
            ColumnType::Text => DataType::Utf8View,
            ColumnType::Money => DataType::Decimal128(18, 2),
        }
    }
}

/// One column of a canonical table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnDef {
    /// Column name.
    pub name: &'static str,
    /// SQL type.
    pub column_type: ColumnType,
    /// Whether NULL is allowed.
    pub nullable: bool,
}

/// A canonical table: its name and columns in canonical order.
#[derive(Debug, PartialEq, Eq)]
pub struct TableDef {
    /// Table name.
    pub name: &'static str,
    /// Columns in canonical order.
    pub columns: &'static [ColumnDef],
}

impl TableDef {
    /// The column holding event time, when the table has one (every fact table).
    pub fn time_column(&self) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.column_type == ColumnType::Timestamp)
    }

    /// The canonical Arrow schema (without user columns).
    pub fn arrow_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| Field::new(c.name, c.column_type.arrow_type(), c.nullable))
            .collect();
        Arc::new(Schema::new(fields))
    }
}

const fn col(name: &'static str, column_type: ColumnType, nullable: bool) -> ColumnDef {
    ColumnDef {
        name,
        column_type,
        nullable,
    }
}

use ColumnType::{BigInt, Money, Text, Timestamp};

/// The canonical tables of the promo fact model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Product master data.
    Skus,
    /// Clickstream: view, click, add_to_cart, checkout, pay, ...
    UserEvents,
    /// Paid order lines (GMV basis).
    Orders,
    /// Payment attempts.
    Payments,
    /// Refunds.
    Refunds,
    /// Ad spend per reporting interval.
    AdSpend,
    /// Inventory snapshots per (sku, warehouse).
    Inventory,
    /// Customer-service tickets.
    Tickets,
    /// Shipment stages.
    Shipments,
}

static SKUS: TableDef = TableDef {
    name: "skus",
    columns: &[
        col("sku_id", BigInt, false),
        col("name", Text, true),
        col("category", Text, true),
        col("brand", Text, true),
        col("list_price", Money, true),
        col("unit_cost", Money, true),
    ],
};

static USER_EVENTS: TableDef = TableDef {
    name: "user_events",
    columns: &[
        col("ts", Timestamp, false),
        col("user_id", BigInt, false),
        col("session_id", BigInt, true),
        col("event_type", Text, false),
        col("sku_id", BigInt, true),
        col("channel", Text, true),
    ],
};

static ORDERS: TableDef = TableDef {
    name: "orders",
    columns: &[
        col("ts", Timestamp, false),
        col("order_id", BigInt, false),
        col("user_id", BigInt, false),
        col("sku_id", BigInt, false),
        col("qty", BigInt, false),
        col("unit_price", Money, true),
        col("amount", Money, false),
        col("channel", Text, true),
        col("campaign_id", BigInt, true),
        col("region", Text, true),
    ],
};

static PAYMENTS: TableDef = TableDef {
    name: "payments",
    columns: &[
        col("ts", Timestamp, false),
        col("order_id", BigInt, false),
        col("user_id", BigInt, false),
        col("amount", Money, false),
        col("status", Text, false),
        col("method", Text, true),
    ],
};

static REFUNDS: TableDef = TableDef {
    name: "refunds",
    columns: &[
        col("ts", Timestamp, false),
        col("order_id", BigInt, false),
        col("sku_id", BigInt, false),
        col("qty", BigInt, false),
        col("amount", Money, false),
        col("reason", Text, true),
    ],
};

static AD_SPEND: TableDef = TableDef {
    name: "ad_spend",
    columns: &[
        col("ts", Timestamp, false),
        col("channel", Text, false),
        col("campaign_id", BigInt, true),
        col("impressions", BigInt, false),
        col("clicks", BigInt, false),
        col("cost", Money, false),
    ],
};

static INVENTORY: TableDef = TableDef {
    name: "inventory",
    columns: &[
        col("ts", Timestamp, false),
        col("sku_id", BigInt, false),
        col("warehouse", Text, false),
        col("on_hand", BigInt, false),
    ],
};

static TICKETS: TableDef = TableDef {
    name: "tickets",
    columns: &[
        col("ts", Timestamp, false),
        col("ticket_id", BigInt, false),
        col("order_id", BigInt, true),
        col("user_id", BigInt, true),
        col("kind", Text, false),
        col("first_response_secs", BigInt, true),
        col("satisfaction", BigInt, true),
    ],
};

static SHIPMENTS: TableDef = TableDef {
    name: "shipments",
    columns: &[
        col("ts", Timestamp, false),
        col("order_id", BigInt, false),
        col("warehouse", Text, true),
        col("region", Text, true),
        col("stage", Text, false),
    ],
};

impl Table {
    /// Every canonical table, in SCHEMA.md order.
    pub const ALL: [Table; 9] = [
        Table::Skus,
        Table::UserEvents,
        Table::Orders,
        Table::Payments,
        Table::Refunds,
        Table::AdSpend,
        Table::Inventory,
        Table::Tickets,
        Table::Shipments,
    ];

    /// The table's definition.
    pub fn def(self) -> &'static TableDef {
        match self {
            Table::Skus => &SKUS,
            Table::UserEvents => &USER_EVENTS,
            Table::Orders => &ORDERS,
            Table::Payments => &PAYMENTS,
            Table::Refunds => &REFUNDS,
            Table::AdSpend => &AD_SPEND,
            Table::Inventory => &INVENTORY,
            Table::Tickets => &TICKETS,
            Table::Shipments => &SHIPMENTS,
        }
    }

    /// The SQL name of the table.
    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// The canonical Arrow schema of the table (cached).
    pub fn arrow_schema(self) -> SchemaRef {
        static SCHEMAS: OnceLock<Vec<SchemaRef>> = OnceLock::new();
        let schemas =
            SCHEMAS.get_or_init(|| Table::ALL.iter().map(|t| t.def().arrow_schema()).collect());
        Arc::clone(&schemas[self as usize])
    }

    fn known_names() -> String {
        Table::ALL.map(Table::name).join(", ")
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Table {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        Table::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::UnknownTable {
                table: name.to_string(),
                known: Table::known_names(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_matches_discriminants() {
        for (i, table) in Table::ALL.into_iter().enumerate() {
            assert_eq!(table as usize, i);
            assert_eq!(table.name().parse::<Table>().unwrap(), table);
        }
        let err = "order".parse::<Table>().unwrap_err();
        assert!(err.to_string().contains("unknown table 'order'"), "{err}");
    }

    #[test]
    fn every_fact_table_has_a_non_null_ts_first() {
        for table in Table::ALL {
            let def = table.def();
            if table == Table::Skus {
                assert_eq!(def.time_column(), None);
                continue;
            }
            assert_eq!(def.time_column(), Some(0), "{table}");
            assert_eq!(def.columns[0].name, "ts");
            assert!(!def.columns[0].nullable);
        }
    }
}
