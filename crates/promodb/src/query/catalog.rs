//! The `public` schema of a database: the canonical tables, plus whatever users register
//! (views, ad-hoc Parquet/CSV tables, `CREATE TABLE`).

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::datasource::ViewTable;
use datafusion::error::{DataFusionError, Result as DfResult};

use super::provider::PromoTable;
use crate::storage::TableStore;

/// Hands out a fresh [`PromoTable`] with the table's current schema at each lookup, so
/// that a query plans and scans against one schema even while user columns are added;
/// then the built-in views, then the user's tables. Canonical tables and built-in views
/// cannot be replaced or dropped.
#[derive(Debug)]
pub(crate) struct PromoSchema {
    stores: Vec<Arc<TableStore>>,
    builtin_views: RwLock<Vec<(&'static str, Arc<ViewTable>)>>,
    user_tables: MemorySchemaProvider,
}

impl PromoSchema {
    pub(crate) fn new(stores: Vec<Arc<TableStore>>) -> Self {
        PromoSchema {
            stores,
            builtin_views: RwLock::new(Vec::new()),
            user_tables: MemorySchemaProvider::new(),
        }
    }

    /// Adds a built-in view (at open, in dependency order).
    pub(crate) fn add_builtin_view(&self, name: &'static str, view: Arc<ViewTable>) {
        self.builtin_views
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((name, view));
    }

    fn store(&self, name: &str) -> Option<&Arc<TableStore>> {
        self.stores.iter().find(|s| s.table().name() == name)
    }

    fn builtin_view(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
        self.builtin_views
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .find(|(view_name, _)| *view_name == name)
            .map(|(_, view)| Arc::clone(view) as Arc<dyn TableProvider>)
    }

    /// Why `name` may not be registered or dropped by a user, if it may not.
    fn reserved(&self, name: &str) -> Option<&'static str> {
        if self.store(name).is_some() {
            Some("canonical promodb table")
        } else if crate::views::is_builtin_view(name) {
            Some("built-in promodb view")
        } else {
            None
        }
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
        names.extend(
            crate::views::BUILTIN_VIEWS
                .iter()
                .map(|v| v.name.to_string()),
        );
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
            None => match self.builtin_view(name) {
                Some(view) => Ok(Some(view)),
                None => self.user_tables.table(name).await,
            },
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(what) = self.reserved(&name) {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is a {what} and cannot be replaced"
            )));
        }
        self.user_tables.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(what) = self.reserved(name) {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is a {what} and cannot be dropped"
            )));
        }
        self.user_tables.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.store(name).is_some()
            || crate::views::is_builtin_view(name)
            || self.user_tables.table_exist(name)
    }
}
