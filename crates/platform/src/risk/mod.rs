//! Risk controls: the rules engine on the payment path ([`engine`]), freezes (a person, a card or a
//! merchant stopped from moving money, with the reason and who did it; lifting one takes a second
//! operator) and sanctions screening ([`sanctions`]).

pub mod engine;
pub mod freezes;
pub mod sanctions;
mod store;

pub use engine::{Attempt, Engine, Outcome, Rule, Verdict};
pub use freezes::{Flow, Freeze, FreezeKind, Freezes};
pub use sanctions::Sanctions;
