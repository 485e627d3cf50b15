//! The tenant's own forms and submissions: every handler takes the
//! requesting tenant ([`RequestTenant`]) and runs checked queries with it,
//! so no handler can name another tenant's rows.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tenant_axum::RequestTenant;
use tenant_runtime::sqlx;
use tenant_runtime::{tenant_query, tenant_query_as, tenant_query_scalar};

use crate::model::{Form, FormChange, NewForm, NewSubmission, Submission};
use crate::problem::ApiError;
use crate::App;

/// `{id}` of a form route; other path parameters (`{tenant}`) are the
/// resolver's.
#[derive(Debug, Deserialize)]
pub struct FormPath {
    id: i64,
}

/// How often a create retries when a concurrent create took its number.
const CREATE_ATTEMPTS: usize = 5;

/// `GET /forms`: the tenant's forms.
pub async fn list_forms(
    State(app): State<App>,
    tenant: RequestTenant,
) -> Result<Json<Vec<Form>>, ApiError> {
    Ok(Json(Form::list(&tenant).fetch_all(app.pool()).await?))
}

/// What `GET /stats` returns.
#[derive(Debug, Serialize)]
pub struct Stats {
    /// The tenant's forms.
    pub forms: i64,
    /// Those of them that are published.
    pub published: i64,
    /// The submissions to all of them.
    pub submissions: i64,
}

/// `GET /stats`: how many forms and submissions the tenant has. The row is
/// sqlx's typed record (`check_types = true`): `stats.forms` is an `i64`
/// because the `!` in its alias says it is never NULL.
pub async fn stats(State(app): State<App>, tenant: RequestTenant) -> Result<Json<Stats>, ApiError> {
    let stats = tenant_query!(
        &tenant,
        r#"SELECT count(*) AS "forms!",
                  count(*) FILTER (WHERE published) AS "published!",
                  (SELECT count(*) FROM form_submissions s
                    WHERE s.tenant_id = $tenant) AS "submissions!"
             FROM forms WHERE tenant_id = $tenant"#
    )
    .fetch_one(app.pool())
    .await?;
    Ok(Json(Stats {
        forms: stats.forms,
        published: stats.published,
        submissions: stats.submissions,
    }))
}

/// `GET /forms/{id}`: one of the tenant's forms, 404 for any other id
/// (another tenant's form included).
pub async fn get_form(
    State(app): State<App>,
    tenant: RequestTenant,
    Path(path): Path<FormPath>,
) -> Result<Json<Form>, ApiError> {
    Form::find(&tenant, &path.id)
        .fetch_optional(app.pool())
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("form"))
}

/// `POST /forms`: a new form, numbered after the tenant's last.
pub async fn create_form(
    State(app): State<App>,
    tenant: RequestTenant,
    Json(new): Json<NewForm>,
) -> Result<(StatusCode, Json<Form>), ApiError> {
    check_text("title", &new.title)?;
    for _ in 0..CREATE_ATTEMPTS {
        let created = tenant_query_as!(
            Form,
            &tenant,
            "INSERT INTO forms (id, tenant_id, title, published)
             SELECT coalesce(max(id), 0) + 1, $tenant, $1, $2 FROM forms WHERE tenant_id = $tenant
             RETURNING id, tenant_id, title, published",
            &new.title,
            new.published
        )
        .fetch_one(app.pool())
        .await;
        match created {
            Ok(form) => return Ok((StatusCode::CREATED, Json(form))),
            Err(e) if has_sqlstate(&e, "23505") => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict(
        "too many concurrent creates; try again".into(),
    ))
}

/// `PUT /forms/{id}`: change one of the tenant's forms.
pub async fn update_form(
    State(app): State<App>,
    tenant: RequestTenant,
    Path(path): Path<FormPath>,
    Json(change): Json<FormChange>,
) -> Result<Json<Form>, ApiError> {
    check_text("title", &change.title)?;
    tenant_query_as!(
        Form,
        &tenant,
        "UPDATE forms SET title = $1, published = $2 WHERE tenant_id = $tenant AND id = $3
         RETURNING id, tenant_id, title, published",
        &change.title,
        change.published,
        path.id
    )
    .fetch_optional(app.pool())
    .await?
    .map(Json)
    .ok_or(ApiError::NotFound("form"))
}

/// `GET /forms/{id}/submissions`: the submissions of one of the tenant's
/// forms.
pub async fn list_submissions(
    State(app): State<App>,
    tenant: RequestTenant,
    Path(path): Path<FormPath>,
) -> Result<Json<Vec<Submission>>, ApiError> {
    // `!`: count(*) is never NULL, which sqlx cannot tell from the catalog.
    let forms: i64 = tenant_query_scalar!(
        &tenant,
        r#"SELECT count(*) AS "forms!" FROM forms WHERE tenant_id = $tenant AND id = $1"#,
        path.id
    )
    .fetch_one(app.pool())
    .await?;
    if forms == 0 {
        return Err(ApiError::NotFound("form"));
    }
    let rows = tenant_query_as!(
        Submission,
        &tenant,
        "SELECT id, tenant_id, form_id, email FROM form_submissions
         WHERE tenant_id = $tenant AND form_id = $1 ORDER BY id",
        path.id
    )
    .fetch_all(app.pool())
    .await?;
    Ok(Json(rows))
}

/// `POST /forms/{id}/submissions`: fill in one of the tenant's forms. The
/// composite foreign key refuses another tenant's form id (404).
pub async fn create_submission(
    State(app): State<App>,
    tenant: RequestTenant,
    Path(path): Path<FormPath>,
    Json(new): Json<NewSubmission>,
) -> Result<(StatusCode, Json<Submission>), ApiError> {
    check_text("email", &new.email)?;
    for _ in 0..CREATE_ATTEMPTS {
        let created = tenant_query_as!(
            Submission,
            &tenant,
            "INSERT INTO form_submissions (id, tenant_id, form_id, email)
             SELECT coalesce(max(id), 0) + 1, $tenant, $1, $2 FROM form_submissions
             WHERE tenant_id = $tenant
             RETURNING id, tenant_id, form_id, email",
            path.id,
            &new.email
        )
        .fetch_one(app.pool())
        .await;
        match created {
            Ok(row) => return Ok((StatusCode::CREATED, Json(row))),
            Err(e) if has_sqlstate(&e, "23505") => continue,
            Err(e) if has_sqlstate(&e, "23503") => return Err(ApiError::NotFound("form")),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict(
        "too many concurrent creates; try again".into(),
    ))
}

/// Text PostgreSQL can store: no NUL, not empty, not huge.
fn check_text(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::Unprocessable(format!("{field} is empty")));
    }
    if value.contains('\0') {
        return Err(ApiError::Unprocessable(format!(
            "{field} contains a NUL character"
        )));
    }
    if value.len() > 10_000 {
        return Err(ApiError::Unprocessable(format!(
            "{field} is longer than 10000 bytes"
        )));
    }
    Ok(())
}

/// Whether PostgreSQL refused with this SQLSTATE (23505 unique, 23503
/// foreign key).
fn has_sqlstate(e: &sqlx::Error, code: &str) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some(code))
}
