//! Hot caches kept true across instances. Each instance holds what nearly every request reads (a
//! session's person, a person's row) for at most `cache::TTL`; when one instance changes such a row, it
//! announces the change after the commit (PostgreSQL's NOTIFY on `CHANNEL`), and every instance, itself
//! included, forgets the entry the moment the message arrives (LISTEN, on a connection of its own). So
//! another instance's change is seen here within a message's delivery (milliseconds), and never later
//! than the TTL even while the listening connection is down; when it comes back, every cache starts
//! over, as messages may have been missed. SQLite is embedded: one instance, nothing to announce.

use std::sync::Mutex;

/// The channel instances announce changes on.
pub(crate) const CHANNEL: &str = "qianbao_cache";

text_enum! {
    /// What changed: the cache that must forget it.
    pub(crate) enum Topic {
        /// A session ended (key: the hex SHA-256 of its token; `*`: every session of a closed wallet).
        Session => "session",
        /// A person's row changed (key: the person's id).
        Person => "person",
    }
}

type Handler = Box<dyn Fn(Option<&str>) + Send + Sync>;

/// Each cache's way to forget a key (`Some`) or everything (`None`).
#[derive(Default)]
pub(crate) struct Invalidations {
    handlers: Mutex<Vec<(Topic, Handler)>>,
}

impl Invalidations {
    pub(crate) fn on(&self, topic: Topic, forget: impl Fn(Option<&str>) + Send + Sync + 'static) {
        self.handlers.lock().expect("invalidation handlers").push((topic, Box::new(forget)));
    }

    /// A message as announced (`topic:key`, `topic:*`), or `None`: messages may have been lost, so every
    /// cache forgets everything. A message of an unknown topic (a newer instance's) is ignored.
    pub(crate) fn deliver(&self, message: Option<&str>) {
        let handlers = self.handlers.lock().expect("invalidation handlers");
        let Some(message) = message else {
            handlers.iter().for_each(|(_, forget)| forget(None));
            return;
        };
        let Some((topic, key)) = message.split_once(':').and_then(|(t, k)| Some((Topic::parse(t)?, k))) else { return };
        for (_, forget) in handlers.iter().filter(|(t, _)| *t == topic) {
            forget(Some(key).filter(|k| *k != "*"));
        }
    }
}

/// The message for a change of `key` (`None`: all of the topic).
pub(crate) fn message(topic: Topic, key: Option<&str>) -> String {
    format!("{topic}:{}", key.unwrap_or("*"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_message_reaches_its_topics_caches_only_and_a_lost_connection_reaches_all() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hub = Invalidations::default();
        for topic in [Topic::Session, Topic::Person] {
            let seen = seen.clone();
            hub.on(topic, move |key| seen.lock().unwrap().push((topic, key.map(str::to_string))));
        }
        hub.deliver(Some(&message(Topic::Person, Some("42"))));
        hub.deliver(Some(&message(Topic::Session, None)));
        hub.deliver(Some("rates:HKD"));
        hub.deliver(Some("no colon"));
        hub.deliver(None);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen, vec![(Topic::Person, Some("42".into())), (Topic::Session, None), (Topic::Session, None), (Topic::Person, None)]);
    }
}
