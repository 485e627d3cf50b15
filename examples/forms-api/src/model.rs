//! The forms model: the same two tenant tables as the console example.

use serde::{Deserialize, Serialize};
use tenant_runtime::TenantTable;

/// A form a tenant publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TenantTable)]
#[tenant(table = "forms")]
pub struct Form {
    /// Its number within the tenant.
    #[tenant(primary_key)]
    pub id: i64,
    /// The owner.
    pub tenant_id: String,
    /// What it asks about.
    pub title: String,
    /// Whether it takes submissions.
    #[tenant(default = "true")]
    pub published: bool,
}

/// Someone filled in a form. `(tenant_id, form_id)` references
/// `forms (tenant_id, id)`: the database itself refuses a submission that
/// points at another tenant's form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TenantTable)]
#[tenant(table = "form_submissions")]
pub struct Submission {
    /// Its number within the tenant.
    #[tenant(primary_key)]
    pub id: i64,
    /// The owner.
    pub tenant_id: String,
    /// The form filled in.
    #[tenant(references = "forms(id)", index)]
    pub form_id: i64,
    /// Who filled it in.
    pub email: String,
}

/// The body of `POST /forms`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct NewForm {
    /// What it asks about.
    pub title: String,
    /// Whether it takes submissions (default true).
    #[serde(default = "yes")]
    pub published: bool,
}

/// The body of `PUT /forms/{id}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FormChange {
    /// The new title.
    pub title: String,
    /// Whether it takes submissions.
    pub published: bool,
}

/// The body of `POST /forms/{id}/submissions`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct NewSubmission {
    /// Who fills it in.
    pub email: String,
}

fn yes() -> bool {
    true
}
