//! Ways data comes in: typed rows pushed one at a time, and files loaded in bulk.
//! (`RecordBatch` appends go straight through [`crate::PromoDb::append`].)

mod files;
mod rows;

pub(crate) use files::read_files;
pub use files::{FileFormat, LoadReport};
pub use rows::{
    AdSpend, InventorySnapshot, Order, Payment, Refund, Row, RowSink, Shipment, Sku, Ticket,
    UserEvent,
};
