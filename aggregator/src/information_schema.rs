//! `information_schema` as clients see it: DataFusion's own views
//! (`tables`, `columns`, `df_settings`, ... and so `SHOW TABLES`, `SHOW
//! COLUMNS`), listing each table with the column types a client receives
//! (strings as `Utf8`, see [`crate::client_types`]), not the dictionary
//! types the planner works with.
//!
//! DataFusion builds its `information_schema` over the session's catalog;
//! Shoal turns that off and registers the same provider, built over a copy
//! of the catalog whose tables have the client types and no data.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::empty::EmptyTable;
use datafusion::catalog::information_schema::{INFORMATION_SCHEMA, InformationSchemaProvider};
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider, SchemaProvider,
};
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

use crate::client_types::client_schema;

/// Registers `information_schema` in `context`'s default catalog, listing
/// `tables` (name and planner schema) with their client types. The session
/// must be configured without DataFusion's own `information_schema`.
pub fn register(context: &SessionContext, tables: &[(String, SchemaRef)]) -> Result<()> {
    let options = context.state().config_options().catalog.clone();
    let public = Arc::new(MemorySchemaProvider::new());
    for (name, schema) in tables {
        let table = EmptyTable::new(Arc::new(client_schema(schema)));
        public.register_table(name.clone(), Arc::new(table))?;
    }
    let catalog = Arc::new(MemoryCatalogProvider::new());
    catalog.register_schema(&options.default_schema, public)?;
    let shadow = Arc::new(MemoryCatalogProviderList::new());
    shadow.register_catalog(options.default_catalog.clone(), catalog);
    let provider = InformationSchemaProvider::new(shadow);
    if let Some(default) = context.catalog(&options.default_catalog) {
        default.register_schema(INFORMATION_SCHEMA, Arc::new(provider))?;
    }
    Ok(())
}
