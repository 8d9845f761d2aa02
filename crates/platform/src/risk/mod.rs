//! Risk controls: the rules engine on the payment path ([`engine`]), freezes (a person, a card or a
//! merchant stopped from moving money, with the reason and who did it; lifting one takes a second
//! operator), holds for review ([`reviews`]: the money held until a reviewer releases or returns it) and
//! sanctions screening ([`sanctions`]).

pub mod engine;
pub mod freezes;
pub mod reviews;
pub mod sanctions;
mod store;

pub use engine::{Attempt, Engine, Outcome, Rule, Verdict};
pub use freezes::{Flow, Freeze, FreezeKind, Freezes};
pub use reviews::{Review, ReviewState, Reviews};
pub use sanctions::Sanctions;
