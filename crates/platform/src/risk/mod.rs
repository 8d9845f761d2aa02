//! Risk controls: freezes today (a person, a card or a merchant stopped from moving money, with the
//! reason and who did it; lifting one takes a second operator). The risk engine's rules and the
//! sanctions screening will live here too.

pub mod freezes;
pub mod sanctions;
mod store;

pub use freezes::{Flow, Freeze, FreezeKind, Freezes};
pub use sanctions::Sanctions;
