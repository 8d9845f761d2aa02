//! The three languages and their messages (`i18n/*.toml`, compiled in; every language has every key,
//! checked by a test).

use axum::http::{HeaderMap, Uri, header};
use std::collections::BTreeMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
    ZhHk,
}

const ALL: [Lang; 3] = [Lang::En, Lang::ZhCn, Lang::ZhHk];

type Messages = BTreeMap<String, String>;

fn parse(source: &str) -> Messages {
    toml::from_str(source).expect("a message catalog is a table of strings")
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
            Lang::ZhHk => "zh-HK",
        }
    }

    pub fn messages(self) -> &'static Messages {
        static CATALOGS: OnceLock<[Messages; 3]> = OnceLock::new();
        let all = CATALOGS.get_or_init(|| {
            [parse(include_str!("i18n/en.toml")), parse(include_str!("i18n/zh-CN.toml")), parse(include_str!("i18n/zh-HK.toml"))]
        });
        &all[ALL.iter().position(|l| *l == self).expect("a language")]
    }

    /// The language menu: each language's code and its own name.
    pub fn menu() -> Vec<BTreeMap<&'static str, &'static str>> {
        ALL.iter().map(|l| BTreeMap::from([("code", l.code()), ("name", l.messages()["lang_name"].as_str())])).collect()
    }

    /// A tag as a language: zh-HK, zh-TW, zh-MO and zh-Hant read Traditional; other zh Simplified.
    fn of_tag(tag: &str) -> Option<Lang> {
        let tag = tag.trim().to_ascii_lowercase();
        match tag.as_str() {
            t if t.starts_with("zh-hk") || t.starts_with("zh-tw") || t.starts_with("zh-mo") || t.starts_with("zh-hant") => Some(Lang::ZhHk),
            t if t == "zh" || t.starts_with("zh-") => Some(Lang::ZhCn),
            t if t == "en" || t.starts_with("en-") => Some(Lang::En),
            _ => None,
        }
    }

    /// The reader's language, and whether `?lang=` chose it now (to remember in a cookie).
    pub fn of(uri: &Uri, headers: &HeaderMap) -> (Lang, bool) {
        let query = uri.query().unwrap_or("");
        if let Some(lang) = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "lang").and_then(|(_, v)| Lang::of_tag(&v)) {
            return (lang, true);
        }
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("qb_lang=").and_then(Lang::of_tag));
        if let Some(lang) = cookie {
            return (lang, false);
        }
        let accepted = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        // In the order given (q-values are nearly always descending as browsers send them).
        (accepted.split(',').filter_map(|part| Lang::of_tag(part.split(';').next().unwrap_or(""))).next().unwrap_or(Lang::En), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_message() {
        let keys: Vec<&String> = Lang::En.messages().keys().collect();
        for lang in ALL {
            let theirs: Vec<&String> = lang.messages().keys().collect();
            assert_eq!(theirs, keys, "{}", lang.code());
        }
    }

    #[test]
    fn hong_kong_and_taiwan_read_traditional_and_the_mainland_simplified() {
        let of = |accept: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_LANGUAGE, accept.parse().unwrap());
            Lang::of(&Uri::from_static("/"), &h).0
        };
        assert_eq!(of("zh-HK,zh;q=0.9,en;q=0.8"), Lang::ZhHk);
        assert_eq!(of("zh-Hant-TW"), Lang::ZhHk);
        assert_eq!(of("zh-CN,zh;q=0.9"), Lang::ZhCn);
        assert_eq!(of("fr-FR,en;q=0.5"), Lang::En);
        assert_eq!(Lang::of(&Uri::from_static("/?lang=zh-HK"), &HeaderMap::new()), (Lang::ZhHk, true));
    }
}
