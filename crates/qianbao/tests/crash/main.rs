//! What happens when things break mid-flight, black-box against real `qianbao serve` processes:
//! servers SIGKILLed under load (`sigkill`), clients that hang up mid-request (`disconnect`), several
//! instances on one database, one of them lost (`instances`), the database itself going away
//! (`database_down`).

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod database_down;
mod disconnect;
mod instances;
mod sigkill;
