//! Published EMV QR payloads (EMVCo's sample, national schemes' samples from public libraries' test
//! suites, and a few negative ones), each with the verdict its CRC (computed independently when they
//! were collected) and the specification's rules give: `tests/vectors/mpm.tsv`, one per line, its
//! source named.

use emvqr::{ParseError, Scheme};
use std::collections::BTreeSet;

struct Vector {
    name: String,
    verdict: String,
    refusals: String,
    scheme: String,
    payload: String,
}

fn vectors() -> Vec<Vector> {
    include_str!("vectors/mpm.tsv")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 6, "six columns: {line}");
            Vector {
                name: cols[0].into(),
                verdict: cols[2].into(),
                refusals: cols[3].into(),
                scheme: cols[4].into(),
                payload: cols[5].into(),
            }
        })
        .collect()
}

/// A refusal's root object ("26.00" → "26", "02-51" stays).
fn root(field: &str) -> String {
    field.split('.').next().unwrap_or(field).to_string()
}

fn scheme_name(p: &emvqr::Payload) -> &'static str {
    let schemes = emvqr::schemes(p);
    let known = schemes.iter().find_map(|(_, s)| match s {
        Scheme::Fps { .. } => Some("fps"),
        Scheme::PayNow { .. } => Some("paynow"),
        Scheme::PromptPay { .. } => Some("promptpay"),
        Scheme::Pix { .. } => Some("pix"),
        Scheme::Qris { .. } => Some("qris"),
        Scheme::Other { .. } => None,
    });
    known.unwrap_or(if schemes.is_empty() { "none" } else { "other" })
}

#[test]
fn there_are_at_least_25_vectors_of_each_kind_the_issue_names() {
    let all = vectors();
    assert!(all.len() >= 25, "{} vectors", all.len());
    for verdict in ["valid", "lenient", "bad_crc", "malformed"] {
        assert!(all.iter().any(|v| v.verdict == verdict), "no {verdict} vector");
    }
    let fps_wrong = all.iter().find(|v| v.verdict == "bad_crc" && v.payload.ends_with("84E1")).expect("the widely copied FPS sample");
    assert_eq!(fps_wrong.refusals, "D1A3");
    assert!(all.iter().any(|v| v.scheme == "promptpay" && v.verdict == "lenient" && v.refusals == "52,59,60"));
    assert!(all.iter().any(|v| v.payload.contains("最佳运输")));
}

#[test]
fn every_vector_gets_its_verdict() {
    let mut wrong = Vec::new();
    for v in vectors() {
        let parsed = emvqr::parse(&v.payload);
        let verdict = match (&parsed, v.verdict.as_str()) {
            (Ok(p), "valid" | "lenient") => {
                let refused: BTreeSet<String> = emvqr::validate(p).iter().map(|r| root(&r.field)).collect();
                let expected: BTreeSet<String> =
                    if v.refusals == "-" { BTreeSet::new() } else { v.refusals.split(',').map(root).collect() };
                let scheme = scheme_name(p);
                (refused == expected && scheme == v.scheme).then_some(()).ok_or(format!("refused {refused:?}, scheme {scheme}"))
            }
            (Err(ParseError::CrcMismatch { expected, .. }), "bad_crc") => {
                (*expected == v.refusals).then_some(()).ok_or(format!("expected CRC {expected}"))
            }
            (Err(_), "malformed") => Ok(()),
            (other, _) => Err(format!("{other:?}")),
        };
        if let Err(why) = verdict {
            wrong.push(format!("{} ({}): {why}", v.name, v.verdict));
        }
    }
    assert!(wrong.is_empty(), "vectors judged otherwise:\n{}", wrong.join("\n"));
}

#[test]
fn every_readable_vector_rebuilds_to_the_same_objects() {
    for v in vectors() {
        if let Ok(p) = emvqr::parse(&v.payload) {
            let rebuilt = emvqr::parse(&p.build()).unwrap_or_else(|e| panic!("{}: {e}", v.name));
            let mut a = p.objects.clone();
            let mut b = rebuilt.objects.clone();
            a.sort_by_key(|o| o.id);
            b.sort_by_key(|o| o.id);
            assert_eq!(a, b, "{}", v.name);
        }
    }
}
