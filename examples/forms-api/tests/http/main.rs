//! The forms API over real HTTP: the example's router on a loopback port,
//! a real PostgreSQL behind it, requests made with reqwest (and raw TCP for
//! what reqwest will not send).

mod admin;
mod checked;
mod hostile;
mod isolation;
mod load;
mod policies;
mod schema;
mod support;
mod tokens;
