//! `information_schema` as clients see it: DataFusion's own views
//! (`tables`, `columns`, `df_settings`, ... and so `SHOW TABLES`, `SHOW
//! COLUMNS`), listing each table with the column types a client receives
//! (strings as `Utf8`, see [`crate::client_types`]), not the dictionary
//! types the planner works with.
//!
//! DataFusion builds its `information_schema` over the session's catalog;
//! Shoal turns that off and registers the same provider, built over a copy
//! of the catalog whose tables have the client types and no data.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::empty::EmptyTable;
use datafusion::catalog::information_schema::InformationSchemaProvider;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider, SchemaProvider,
};
use datafusion::common::config::CatalogOptions;
use datafusion::datasource::TableProvider;
use datafusion::error::Result;

use crate::client_types::client_schema;

/// `information_schema` for a session whose default catalog holds
/// `tables` (name and planner schema), listing them with their client
/// types. The session must be configured without DataFusion's own. Nothing
/// is built until a query reads it (most never do).
pub fn provider(
    names: &CatalogOptions,
    tables: Vec<(String, SchemaRef)>,
) -> Result<Arc<dyn SchemaProvider>> {
    Ok(Arc::new(ClientInformationSchema {
        catalog: names.default_catalog.clone(),
        schema: names.default_schema.clone(),
        tables,
        built: OnceLock::new(),
    }))
}

/// DataFusion's provider over a copy of the catalog with client types, made
/// on first use.
#[derive(Debug)]
struct ClientInformationSchema {
    catalog: String,
    schema: String,
    tables: Vec<(String, SchemaRef)>,
    built: OnceLock<Result<InformationSchemaProvider, String>>,
}

impl ClientInformationSchema {
    /// The provider, made now if it was not; an error (two tables of one
    /// name, which a catalog snapshot cannot hold) is logged where it cannot
    /// be returned.
    fn built(&self) -> Result<&InformationSchemaProvider> {
        self.built
            .get_or_init(|| self.build().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| {
                tracing::warn!(error = %e, "information_schema could not be built");
                datafusion::error::DataFusionError::Plan(format!("information_schema: {e}"))
            })
    }

    fn build(&self) -> Result<InformationSchemaProvider> {
        let public = Arc::new(MemorySchemaProvider::new());
        for (name, schema) in &self.tables {
            let table = EmptyTable::new(Arc::new(client_schema(schema)));
            public.register_table(name.clone(), Arc::new(table))?;
        }
        let catalog = Arc::new(MemoryCatalogProvider::new());
        catalog.register_schema(&self.schema, public)?;
        let shadow = Arc::new(MemoryCatalogProviderList::new());
        shadow.register_catalog(self.catalog.clone(), catalog);
        Ok(InformationSchemaProvider::new(shadow))
    }
}

#[async_trait]
impl SchemaProvider for ClientInformationSchema {
    fn table_names(&self) -> Vec<String> {
        self.built().map(|b| b.table_names()).unwrap_or_default()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.built()?.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.built().is_ok_and(|b| b.table_exist(name))
    }
}
