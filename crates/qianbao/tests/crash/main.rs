//! What happens when things break mid-flight, black-box against real `qianbao serve` processes:
//! servers SIGKILLed under load (`sigkill`), clients that hang up mid-request (`disconnect`).

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod disconnect;
mod sigkill;
