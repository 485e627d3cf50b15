//! The request span carries the tenant id once the extractor resolved it.
//!
//! A test binary of its own: tracing caches per call site whether anyone
//! listens, and tests of other binaries running beside it without a
//! subscriber would race with the thread-local one set here.

#[path = "http/support.rs"]
#[allow(dead_code)] // the other tests' helpers
mod support;

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::support::Server;

/// Collects every value recorded into a span field named `tenant`.
#[derive(Clone, Default)]
struct TenantFields(Arc<Mutex<Vec<String>>>);

struct Collect<'a>(&'a TenantFields);

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "tenant" {
            self.0 .0.lock().unwrap().push(value.to_string());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "tenant" {
            self.0 .0.lock().unwrap().push(format!("{value:?}"));
        }
    }
}

impl<S: Subscriber> Layer<S> for TenantFields {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        attrs.record(&mut Collect(self));
    }
    fn on_record(&self, _id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        values.record(&mut Collect(self));
    }
}

#[tokio::test] // one thread: the server's tasks see this thread's subscriber
async fn the_request_span_records_the_tenant() {
    let fields = TenantFields::default();
    let subscriber = tracing_subscriber::registry().with(fields.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = Server::start(&["traced-tenant"]).await;
    let response = server.get("/forms", &server.token("traced-tenant")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let seen = fields.0.lock().unwrap().clone();
    assert!(
        seen.iter().any(|v| v == "traced-tenant"),
        "recorded: {seen:?}"
    );
}
