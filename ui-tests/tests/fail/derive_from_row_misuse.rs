//! `#[derive(FromRow)]` on what it cannot read: every mistake at once.
use tenant_runtime::FromRow;

#[derive(FromRow)]
struct Tuple(i64);

#[derive(FromRow)]
struct Unknown {
    #[row(column = "x")]
    id: i64,
}

#[derive(FromRow)]
struct Generic<T> {
    id: T,
}

fn main() {}
