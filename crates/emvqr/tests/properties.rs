//! Properties of the codec: building then parsing is the identity for any structure the builder
//! accepts, and any single-character change to a valid payload is caught (by the CRC, or by the reader
//! when the change breaks the structure itself).

use emvqr::{Object, Payload, parse};
use proptest::prelude::*;

/// A value of 1 to 40 characters drawn from printable ASCII and a few CJK characters.
fn value() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![8 => (0x20u8..0x7f).prop_map(char::from), 1 => proptest::sample::select(vec!['最', '佳', '北', '京'])],
        1..40,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn payload() -> impl Strategy<Value = Payload> {
    proptest::collection::btree_map(1u8..63, value(), 1..12).prop_map(|m| {
        let mut objects = vec![Object { id: 0, value: "01".into() }];
        objects.extend(m.into_iter().map(|(id, value)| Object { id, value }));
        Payload { objects }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn build_then_parse_is_the_identity(p in payload()) {
        let text = p.build();
        let parsed = parse(&text).expect("a built payload parses");
        prop_assert_eq!(parsed, p);
    }

    #[test]
    fn any_single_character_change_is_caught(p in payload(), at in any::<prop::sample::Index>(), with in (0x20u8..0x7f).prop_map(char::from)) {
        let text = p.build();
        let chars: Vec<char> = text.chars().collect();
        let i = at.index(chars.len());
        prop_assume!(chars[i] != with);
        // Changing a CRC digit's case is not a change (the CRC is read without regard to case).
        prop_assume!(!(i >= chars.len() - 4 && chars[i].eq_ignore_ascii_case(&with)));
        let mut changed = chars.clone();
        changed[i] = with;
        let changed: String = changed.into_iter().collect();
        prop_assert!(parse(&changed).is_err(), "{} was accepted", changed);
    }
}
