//! The `public` schema of a database: the canonical tables, plus whatever users register
//! (views, ad-hoc Parquet/CSV tables, `CREATE TABLE`).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};

use super::provider::PromoTable;
use crate::storage::TableStore;

/// Hands out a fresh [`PromoTable`] with the table's current schema at each lookup, so
/// that a query plans and scans against one schema even while user columns are added.
#[derive(Debug)]
pub(crate) struct PromoSchema {
    stores: Vec<Arc<TableStore>>,
    user_tables: MemorySchemaProvider,
}

impl PromoSchema {
    pub(crate) fn new(stores: Vec<Arc<TableStore>>) -> Self {
        PromoSchema {
            stores,
            user_tables: MemorySchemaProvider::new(),
        }
    }

    fn store(&self, name: &str) -> Option<&Arc<TableStore>> {
        self.stores.iter().find(|s| s.table().name() == name)
    }
}

#[async_trait]
impl SchemaProvider for PromoSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .stores
            .iter()
            .map(|s| s.table().name().to_string())
            .collect();
        names.extend(self.user_tables.table_names());
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        match self.store(name) {
            Some(store) => {
                let snapshot = store
                    .snapshot()
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                let schema = Arc::clone(snapshot.schema());
                Ok(Some(Arc::new(PromoTable::new(Arc::clone(store), schema))))
            }
            None => self.user_tables.table(name).await,
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if self.store(&name).is_some() {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is a canonical promodb table and cannot be replaced"
            )));
        }
        self.user_tables.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if self.store(name).is_some() {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is a canonical promodb table and cannot be dropped"
            )));
        }
        self.user_tables.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.store(name).is_some() || self.user_tables.table_exist(name)
    }
}
