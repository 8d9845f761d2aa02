//! The platform's business rules, tested through its public API without HTTP: each test body runs on
//! a temporary SQLite file and on a PostgreSQL schema of its own (when `QIANBAO_TEST_DATABASE_URL` is
//! set), with the manual clock and the sandbox rail.

#[macro_use]
mod support;

mod agreement;
mod deadlines;
mod fx;
mod fx_properties;
mod limits;
mod refunds;
mod regressions;
