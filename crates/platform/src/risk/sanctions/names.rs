//! Names as screening compares them. Normalised: transliterated to ASCII (diacritics dropped, Chinese
//! characters to pinyin syllables: 习近平 → xi jin ping), lower-cased, punctuation as spaces, split into
//! words. Compared: Jaro-Winkler similarity of the words in their order run together (so "jin ping" is
//! "jinping"), and of the words sorted run together and spaced (so word order does not matter: "XI,
//! Jinping" is "Jinping Xi"); the best of these is the score.

/// A score at or above this is a possible match, sent to review. Chosen so that transliteration, word
/// order, spacing and one-letter spelling differences in names of ordinary length match, and different
/// names sharing a surname do not (see the tests).
pub const MATCH_THRESHOLD: f64 = 0.92;
/// Words of a name at most, characters of a word at most: a bound on the work per comparison.
pub const WORDS_MAX: usize = 8;
pub const WORD_CHARS_MAX: usize = 40;

/// A name's words, normalised.
pub fn words(name: &str) -> Vec<String> {
    let ascii = deunicode::deunicode(name).to_lowercase();
    ascii
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(WORDS_MAX)
        .map(|w| w.chars().take(WORD_CHARS_MAX).collect())
        .collect()
}

/// How alike two names are, 0 to 1 (1: the same words, whatever their order or spacing).
pub fn similarity(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let run = |w: &[String]| w.concat();
    let sorted = |w: &[String]| {
        let mut w = w.to_vec();
        w.sort();
        w
    };
    let (sa, sb) = (sorted(a), sorted(b));
    [strsim::jaro_winkler(&run(a), &run(b)), strsim::jaro_winkler(&run(&sa), &run(&sb)), strsim::jaro_winkler(&sa.join(" "), &sb.join(" "))]
        .into_iter()
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(a: &str, b: &str) -> f64 {
        similarity(&words(a), &words(b))
    }

    #[test]
    fn case_diacritics_punctuation_word_order_and_spacing_do_not_matter() {
        for (listed, given) in [
            ("XI, Jinping", "xi jinping"),
            ("XI, Jinping", "Jinping Xi"),
            ("XI, Jinping", "习近平"),
            ("MÜLLER, Jürgen", "Jurgen Muller"),
            ("AL-ZAWAHIRI, Ayman", "Ayman al Zawahiri"),
            ("Ovchinnikov, Oleg", "Oleg Ovchinikov"),
        ] {
            assert!(score(listed, given) >= MATCH_THRESHOLD, "{listed} ~ {given}: {}", score(listed, given));
        }
    }

    #[test]
    fn different_names_below_the_threshold_do_not_match() {
        for (listed, given) in [
            ("XI, Jinping", "Xi Mingze"),
            ("MÜLLER, Jürgen", "Jürgen Klopp"),
            ("Ovchinnikov, Oleg", "Olga Ivanova"),
            ("BOUT, Viktor", "Victoria Beckham"),
            ("Wang Wei", "Wang Jianlin"),
        ] {
            let s = score(listed, given);
            assert!(s < MATCH_THRESHOLD, "{listed} vs {given}: {s}");
        }
    }

    #[test]
    fn an_empty_name_matches_nothing() {
        assert_eq!(score("", "Anyone"), 0.0);
        assert_eq!(words("  ,.;  "), Vec::<String>::new());
    }
}
