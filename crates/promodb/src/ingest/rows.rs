//! Typed rows of the canonical tables, pushed one at a time and batched for you.
//!
//! ```
//! # fn main() -> promodb::Result<()> {
//! use promodb::{PromoDb, ingest::Order, schema::Money};
//! let db = PromoDb::in_memory()?;
//! db.push(Order {
//!     ts: "2026-11-11T00:00:01Z".parse().unwrap(),
//!     order_id: 1,
//!     user_id: 42,
//!     sku_id: 7,
//!     qty: 2,
//!     unit_price: Some("19.90".parse()?),
//!     amount: "35.80".parse()?,
//!     channel: Some("live_stream".into()),
//!     campaign_id: None,
//!     region: None,
//! })?;
//! assert_eq!(db.row_count("orders")?, 1);
//! # Ok(()) }
//! ```

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::schema::{Money, Table};
use crate::storage::ColumnBuilder;

/// A typed row of one canonical table; implemented by [`Order`], [`UserEvent`], ...
pub trait Row: sealed::Sealed + Send + 'static {
    /// The table the row belongs to.
    const TABLE: Table;

    /// Field names in declaration order (the table's canonical column order).
    fn column_names() -> &'static [&'static str];

    /// Writes the row's fields, in canonical order.
    #[doc(hidden)]
    fn write(&self, sink: &mut RowSink<'_>) -> Result<()>;
}

mod sealed {
    pub trait Sealed {}
}

/// Where a [`Row`] writes its fields; opaque to users.
#[derive(Debug)]
pub struct RowSink<'a> {
    columns: &'a mut [ColumnBuilder],
    next: usize,
}

impl<'a> RowSink<'a> {
    pub(crate) fn new(columns: &'a mut [ColumnBuilder]) -> Self {
        RowSink { columns, next: 0 }
    }

    fn put(&mut self, cell: &dyn Cell) -> Result<()> {
        let builder = self
            .columns
            .get_mut(self.next)
            .ok_or_else(|| Error::Internal("row has more fields than its table".into()))?;
        self.next += 1;
        cell.put(builder)
    }
}

/// A Rust value that fills one canonical column.
trait Cell {
    fn put(&self, builder: &mut ColumnBuilder) -> Result<()>;
}

fn wrong_builder(what: &str) -> Error {
    Error::Internal(format!("a {what} field does not match its column type"))
}

impl Cell for DateTime<Utc> {
    fn put(&self, builder: &mut ColumnBuilder) -> Result<()> {
        match builder {
            ColumnBuilder::Timestamp(b) => {
                b.append_value(self.timestamp_micros());
                Ok(())
            }
            _ => Err(wrong_builder("timestamp")),
        }
    }
}

impl Cell for Option<i64> {
    fn put(&self, builder: &mut ColumnBuilder) -> Result<()> {
        match builder {
            ColumnBuilder::BigInt(b) => {
                b.append_option(*self);
                Ok(())
            }
            _ => Err(wrong_builder("BIGINT")),
        }
    }
}

impl Cell for i64 {
    fn put(&self, builder: &mut ColumnBuilder) -> Result<()> {
        Some(*self).put(builder)
    }
}

impl Cell for Option<String> {
    fn put(&self, builder: &mut ColumnBuilder) -> Result<()> {
        match builder {
            ColumnBuilder::Text(b) => {
                b.append_option(self.as_deref());
                Ok(())
            }
            _ => Err(wrong_builder("VARCHAR")),
        }
    }
}

impl Cell for String {
    fn put(&self, builder: &mut ColumnBuilder) -> Result<()> {
        match builder {
            ColumnBuilder::Text(b) => {
                b.append_value(self);
                Ok(())
            }
            _ => Err(wrong_builder("VARCHAR")),
        }
    }
}

impl Cell for Option<Money> {
    fn put(&self, builder: &mut ColumnBuilder) -> Result<()> {
        match builder {
            ColumnBuilder::Money(b) => {
                b.append_option(self.map(|m| i128::from(m.cents())));
                Ok(())
            }
            _ => Err(wrong_builder("DECIMAL")),
        }
    }
}

impl Cell for Money {
    fn put(&self, builder: &mut ColumnBuilder) -> Result<()> {
        Some(*self).put(builder)
    }
}

macro_rules! canonical_rows {
    ($(
        $(#[$meta:meta])*
        $name:ident => $table:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl sealed::Sealed for $name {}

        impl Row for $name {
            const TABLE: Table = Table::$table;

            fn column_names() -> &'static [&'static str] {
                &[$(stringify!($field)),*]
            }

            fn write(&self, sink: &mut RowSink<'_>) -> Result<()> {
                $( sink.put(&self.$field)?; )*
                Ok(())
            }
        }
    )*};
}

canonical_rows! {
    /// A product of the `skus` table.
    Sku => Skus {
        /// Product id.
        sku_id: i64,
        /// Display name.
        name: Option<String>,
        /// Category, e.g. `apparel`.
        category: Option<String>,
        /// Brand.
        brand: Option<String>,
        /// List price.
        list_price: Option<Money>,
        /// Cost of goods per unit.
        unit_cost: Option<Money>,
    }

    /// A clickstream event of the `user_events` table.
    UserEvent => UserEvents {
        /// When it happened.
        ts: DateTime<Utc>,
        /// The user.
        user_id: i64,
        /// The session, if known.
        session_id: Option<i64>,
        /// `view`, `click`, `add_to_cart`, `checkout`, `pay`, or any other.
        event_type: String,
        /// The product, if any.
        sku_id: Option<i64>,
        /// Traffic source.
        channel: Option<String>,
    }

    /// A paid order line of the `orders` table.
    Order => Orders {
        /// Payment time of the order line.
        ts: DateTime<Utc>,
        /// Order id (an order may have several lines).
        order_id: i64,
        /// Buyer.
        user_id: i64,
        /// Product.
        sku_id: i64,
        /// Units.
        qty: i64,
        /// Price before discount.
        unit_price: Option<Money>,
        /// Paid amount of the line (GMV basis).
        amount: Money,
        /// Attributed channel.
        channel: Option<String>,
        /// Attributed campaign.
        campaign_id: Option<i64>,
        /// Region.
        region: Option<String>,
    }

    /// A payment attempt of the `payments` table.
    Payment => Payments {
        /// Attempt time.
        ts: DateTime<Utc>,
        /// Order.
        order_id: i64,
        /// Payer.
        user_id: i64,
        /// Amount.
        amount: Money,
        /// `success` or `failed`.
        status: String,
        /// `alipay`, `wechat`, `card`, ...
        method: Option<String>,
    }

    /// A refund of the `refunds` table.
    Refund => Refunds {
        /// Refund time.
        ts: DateTime<Utc>,
        /// Order.
        order_id: i64,
        /// Product.
        sku_id: i64,
        /// Units.
        qty: i64,
        /// Refunded amount.
        amount: Money,
        /// Reason.
        reason: Option<String>,
    }

    /// Ad spend of one reporting interval, of the `ad_spend` table.
    AdSpend => AdSpend {
        /// Start of the reporting interval.
        ts: DateTime<Utc>,
        /// Channel.
        channel: String,
        /// Campaign.
        campaign_id: Option<i64>,
        /// Impressions.
        impressions: i64,
        /// Clicks.
        clicks: i64,
        /// Cost.
        cost: Money,
    }

    /// An inventory snapshot of one (sku, warehouse), of the `inventory` table.
    InventorySnapshot => Inventory {
        /// Snapshot time.
        ts: DateTime<Utc>,
        /// Product.
        sku_id: i64,
        /// Warehouse.
        warehouse: String,
        /// Units available.
        on_hand: i64,
    }

    /// A customer-service ticket of the `tickets` table.
    Ticket => Tickets {
        /// Opening time.
        ts: DateTime<Utc>,
        /// Ticket id.
        ticket_id: i64,
        /// Order, if any.
        order_id: Option<i64>,
        /// User, if known.
        user_id: Option<i64>,
        /// `complaint`, `return`, `question`, ...
        kind: String,
        /// Seconds to first response.
        first_response_secs: Option<i64>,
        /// 1..5.
        satisfaction: Option<i64>,
    }

    /// A shipment stage of the `shipments` table.
    Shipment => Shipments {
        /// Time of the stage.
        ts: DateTime<Utc>,
        /// Order.
        order_id: i64,
        /// Warehouse.
        warehouse: Option<String>,
        /// Region.
        region: Option<String>,
        /// `dispatched`, `in_transit`, `delivered`, `delayed`, ...
        stage: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_of(table: Table) -> Vec<&'static str> {
        table.def().columns.iter().map(|c| c.name).collect()
    }

    #[test]
    fn every_row_type_lists_its_table_columns_in_order() {
        assert_eq!(Sku::column_names(), names_of(Sku::TABLE));
        assert_eq!(UserEvent::column_names(), names_of(UserEvent::TABLE));
        assert_eq!(Order::column_names(), names_of(Order::TABLE));
        assert_eq!(Payment::column_names(), names_of(Payment::TABLE));
        assert_eq!(Refund::column_names(), names_of(Refund::TABLE));
        assert_eq!(AdSpend::column_names(), names_of(AdSpend::TABLE));
        assert_eq!(
            InventorySnapshot::column_names(),
            names_of(InventorySnapshot::TABLE)
        );
        assert_eq!(Ticket::column_names(), names_of(Ticket::TABLE));
        assert_eq!(Shipment::column_names(), names_of(Shipment::TABLE));
    }
}
