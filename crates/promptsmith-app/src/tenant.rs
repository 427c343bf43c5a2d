//! Tenants: every program, dataset, job and prediction belongs to one. The `default` tenant (the
//! CLI's, and the server's without keys) sees registry names as they are; another tenant's
//! programs are stored as `TENANT:NAME`, so one registry serves every tenant and none sees
//! another's. Ids of other tenants' things answer "not found", never "forbidden".

use crate::error::{invalid, AppError, Result};
use promptsmith_store::{DatasetInfo, Job, Store};

/// The tenant a request acts for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant(String);

/// The tenant of the CLI and of a server without keys.
pub const DEFAULT_TENANT: &str = "default";

impl Default for Tenant {
    fn default() -> Self {
        Tenant(DEFAULT_TENANT.into())
    }
}

impl Tenant {
    /// Tenant `name` (letters, digits, `_`, `-`, `.`).
    pub fn new(name: &str) -> Result<Tenant> {
        promptsmith_store::registry::validate_name(name, "tenant")?;
        Ok(Tenant(name.to_string()))
    }

    /// The tenant's name.
    pub fn name(&self) -> &str {
        &self.0
    }

    fn is_default(&self) -> bool {
        self.0 == DEFAULT_TENANT
    }

    /// The registry name (or `NAME@SELECTOR` reference) of this tenant's `name`.
    pub fn qualify(&self, name: &str) -> Result<String> {
        if name.contains(':') {
            invalid!("program '{name}': ':' is not allowed in a program name");
        }
        Ok(if self.is_default() { name.to_string() } else { format!("{}:{name}", self.0) })
    }

    /// The name this tenant knows a registry name by, when it is this tenant's.
    pub fn unqualify<'a>(&self, stored: &'a str) -> Option<&'a str> {
        match stored.split_once(':') {
            None if self.is_default() => Some(stored),
            Some((t, rest)) if t == self.0 => Some(rest),
            _ => None,
        }
    }

    /// This tenant's dataset `id`.
    pub async fn dataset(&self, store: &Store, id: &str) -> Result<DatasetInfo> {
        match store.dataset_info(id).await {
            Ok(d) if d.tenant == self.0 => Ok(d),
            Ok(_) => Err(AppError::not_found(format!("no dataset '{id}'"))),
            Err(e) => Err(e.into()),
        }
    }

    /// This tenant's job `id`.
    pub async fn job(&self, store: &Store, id: &str) -> Result<Job> {
        match store.job(id).await {
            Ok(j) if j.tenant == self.0 => Ok(j),
            Ok(_) => Err(AppError::not_found(format!("no job '{id}'"))),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_qualified_and_only_the_owner_sees_them() {
        let acme = Tenant::new("acme").unwrap();
        let default = Tenant::default();
        assert_eq!(acme.qualify("qa@production").unwrap(), "acme:qa@production");
        assert_eq!(default.qualify("qa").unwrap(), "qa");
        assert!(acme.qualify("other:qa").is_err());
        assert_eq!(acme.unqualify("acme:qa"), Some("qa"));
        assert_eq!(acme.unqualify("qa"), None);
        assert_eq!(acme.unqualify("beta:qa"), None);
        assert_eq!(default.unqualify("qa"), Some("qa"));
        assert_eq!(default.unqualify("acme:qa"), None);
        assert!(Tenant::new("a b").is_err());
    }
}
