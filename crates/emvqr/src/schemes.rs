//! The national fast-payment schemes told apart by the globally unique identifier (sub-ID 00) of a
//! merchant account template (26–51), each decoded into its own fields. An identifier none of them
//! claims is kept as [`Scheme::Other`] with its sub-IDs, so a wallet can still ask the network.

use super::{Object, Payload, objects};

/// A merchant account template, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// Hong Kong's Faster Payment System (`hk.com.hkicl`): a clearing code and one proxy.
    Fps { clearing_code: Option<String>, fps_id: Option<String>, mobile: Option<String>, email: Option<String> },
    /// Singapore's PayNow (`SG.PAYNOW`): a proxy (0 mobile, 2 UEN), whether the amount may be edited,
    /// and an expiry date (YYYYMMDD).
    PayNow { proxy_type: Option<String>, proxy_value: Option<String>, amount_editable: bool, expiry: Option<String> },
    /// Thailand's PromptPay (AID `A000000677010111`): a mobile number (0066…), a national id or an
    /// e-wallet id.
    PromptPay { mobile: Option<String>, national_id: Option<String>, e_wallet: Option<String> },
    /// Brazil's Pix (`BR.GOV.BCB.PIX`): a key (static) or a payload URL (dynamic), and a description.
    Pix { key: Option<String>, description: Option<String>, url: Option<String> },
    /// Indonesia's QRIS (`ID.CO.QRIS.WWW`): the national merchant id and its criteria.
    Qris { merchant_id: Option<String>, criteria: Option<String> },
    /// Any other network: its identifier and sub-IDs as they came.
    Other { guid: String, fields: Vec<Object> },
}

/// Every merchant account template of a payload (26–51) that is well-formed and has an identifier,
/// with its ID, in the payload's order.
pub fn schemes(p: &Payload) -> Vec<(u8, Scheme)> {
    p.objects
        .iter()
        .filter(|o| (26..=51).contains(&o.id))
        .filter_map(|o| objects(&o.value).ok().map(|inner| (o.id, inner)))
        .filter_map(|(id, inner)| decode(&inner).map(|s| (id, s)))
        .collect()
}

impl Scheme {
    /// The scheme's globally unique identifier (sub-ID 00).
    pub fn guid(&self) -> &str {
        match self {
            Scheme::Fps { .. } => "hk.com.hkicl",
            Scheme::PayNow { .. } => "SG.PAYNOW",
            Scheme::PromptPay { .. } => "A000000677010111",
            Scheme::Pix { .. } => "br.gov.bcb.pix",
            Scheme::Qris { .. } => "ID.CO.QRIS.WWW",
            Scheme::Other { guid, .. } => guid,
        }
    }

    /// The template's value (sub-IDs ascending), the inverse of decoding it.
    pub fn template(&self) -> String {
        let opt = |id: u8, v: &Option<String>| v.as_ref().map(|v| (id, v.clone()));
        let mut fields: Vec<(u8, String)> = match self {
            Scheme::Fps { clearing_code, fps_id, mobile, email } => {
                [opt(1, clearing_code), opt(2, fps_id), opt(3, mobile), opt(4, email)].into_iter().flatten().collect()
            }
            Scheme::PayNow { proxy_type, proxy_value, amount_editable, expiry } => {
                let editable = Some(if *amount_editable { "1" } else { "0" }.to_string());
                [opt(1, proxy_type), opt(2, proxy_value), opt(3, &editable), opt(4, expiry)].into_iter().flatten().collect()
            }
            Scheme::PromptPay { mobile, national_id, e_wallet } => {
                [opt(1, mobile), opt(2, national_id), opt(3, e_wallet)].into_iter().flatten().collect()
            }
            Scheme::Pix { key, description, url } => [opt(1, key), opt(2, description), opt(25, url)].into_iter().flatten().collect(),
            Scheme::Qris { merchant_id, criteria } => [opt(2, merchant_id), opt(3, criteria)].into_iter().flatten().collect(),
            Scheme::Other { fields, .. } => fields.iter().map(|o| (o.id, o.value.clone())).collect(),
        };
        fields.sort_by_key(|(id, _)| *id);
        let mut all = vec![(0u8, self.guid().to_string())];
        all.extend(fields);
        let pairs: Vec<(u8, &str)> = all.iter().map(|(id, v)| (*id, v.as_str())).collect();
        super::template(&pairs)
    }
}

fn decode(inner: &[Object]) -> Option<Scheme> {
    let get = |id: u8| inner.iter().find(|o| o.id == id).map(|o| o.value.clone());
    let guid = get(0)?;
    let scheme = match guid.to_ascii_uppercase().as_str() {
        "HK.COM.HKICL" => Scheme::Fps { clearing_code: get(1), fps_id: get(2), mobile: get(3), email: get(4) },
        "SG.PAYNOW" => {
            Scheme::PayNow { proxy_type: get(1), proxy_value: get(2), amount_editable: get(3).as_deref() == Some("1"), expiry: get(4) }
        }
        "A000000677010111" => Scheme::PromptPay { mobile: get(1), national_id: get(2), e_wallet: get(3) },
        "BR.GOV.BCB.PIX" => Scheme::Pix { key: get(1), description: get(2), url: get(25) },
        "ID.CO.QRIS.WWW" => Scheme::Qris { merchant_id: get(2), criteria: get(3) },
        _ => Scheme::Other { guid, fields: inner.iter().filter(|o| o.id != 0).cloned().collect() },
    };
    Some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse, template};

    fn with_template(id: u8, value: String, currency: &str, country: &str) -> Payload {
        let mut p = Payload::default();
        for (k, v) in [(0u8, "01".to_string()), (1, "11".into()), (id, value), (52, "0000".into()), (53, currency.into())] {
            p.set(k, Some(v));
        }
        p.set(58, Some(country.into()));
        p.set(59, Some("NA".into()));
        p.set(60, Some("City".into()));
        parse(&p.build()).unwrap()
    }

    #[test]
    fn an_fps_code_names_its_clearing_code_and_proxy() {
        let p = with_template(26, template(&[(0, "hk.com.hkicl"), (1, "004"), (3, "+852-61234567")]), "344", "HK");
        let expected = Scheme::Fps { clearing_code: Some("004".into()), fps_id: None, mobile: Some("+852-61234567".into()), email: None };
        assert_eq!(schemes(&p), vec![(26, expected)]);
    }

    #[test]
    fn a_paynow_code_names_its_proxy_editability_and_expiry() {
        let t = template(&[(0, "SG.PAYNOW"), (1, "2"), (2, "201403121W"), (3, "0"), (4, "20261231")]);
        let p = with_template(26, t, "702", "SG");
        let expected = Scheme::PayNow {
            proxy_type: Some("2".into()),
            proxy_value: Some("201403121W".into()),
            amount_editable: false,
            expiry: Some("20261231".into()),
        };
        assert_eq!(schemes(&p), vec![(26, expected)]);
    }

    #[test]
    fn promptpay_pix_and_qris_are_told_apart_by_their_identifiers() {
        let p = with_template(29, template(&[(0, "A000000677010111"), (1, "0066812345678")]), "764", "TH");
        assert_eq!(schemes(&p), vec![(29, Scheme::PromptPay { mobile: Some("0066812345678".into()), national_id: None, e_wallet: None })]);
        let p = with_template(26, template(&[(0, "br.gov.bcb.pix"), (1, "pix@example.com")]), "986", "BR");
        assert_eq!(schemes(&p), vec![(26, Scheme::Pix { key: Some("pix@example.com".into()), description: None, url: None })]);
        let p = with_template(51, template(&[(0, "ID.CO.QRIS.WWW"), (2, "ID1020021181745"), (3, "UMI")]), "360", "ID");
        assert_eq!(schemes(&p), vec![(51, Scheme::Qris { merchant_id: Some("ID1020021181745".into()), criteria: Some("UMI".into()) })]);
    }

    #[test]
    fn each_scheme_encodes_back_to_the_template_it_was_decoded_from() {
        let templates = [
            template(&[(0, "hk.com.hkicl"), (1, "004"), (3, "+852-61234567")]),
            template(&[(0, "SG.PAYNOW"), (1, "2"), (2, "201403121W"), (3, "0"), (4, "20261231")]),
            template(&[(0, "A000000677010111"), (1, "0066812345678")]),
            template(&[(0, "br.gov.bcb.pix"), (1, "pix@example.com"), (2, "Cafe")]),
            template(&[(0, "ID.CO.QRIS.WWW"), (2, "ID1020021181745"), (3, "UMI")]),
            template(&[(0, "com.example.pay"), (1, "X"), (7, "Y")]),
        ];
        for t in templates {
            let scheme = decode(&objects(&t).unwrap()).unwrap();
            assert_eq!(scheme.template(), t);
        }
    }

    #[test]
    fn an_unknown_network_keeps_its_identifier_and_fields() {
        let p = with_template(30, template(&[(0, "com.qianbao.pay"), (1, "1900000109")]), "156", "CN");
        assert_eq!(
            schemes(&p),
            vec![(30, Scheme::Other { guid: "com.qianbao.pay".into(), fields: vec![Object { id: 1, value: "1900000109".into() }] })]
        );
    }
}
