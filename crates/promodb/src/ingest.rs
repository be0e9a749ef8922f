//! Ways data comes in: typed rows pushed one at a time, files loaded in bulk, and Parquet
//! files attached to be read in place.
//! (`RecordBatch` appends go straight through [`crate::PromoDb::append`].)

mod attach;
mod files;
mod rows;

pub(crate) use attach::inspect_files;
pub(crate) use files::read_files;
pub use files::{FileFormat, LoadReport};
pub use rows::{
    AdSpend, InventorySnapshot, Order, Payment, Refund, Row, RowSink, Shipment, Sku, Ticket,
    UserEvent,
};
