//! Reading sanctions lists in their public formats: OFAC's SDN list as CSV (`sdn.csv`: ent_num,
//! SDN_Name, SDN_Type, Program, …; `-0-` for an empty field) and the UN Security Council's consolidated
//! list as XML (`INDIVIDUAL` and `ENTITY` elements with `FIRST_NAME` … `FOURTH_NAME`, `REFERENCE_NUMBER`
//! and `ALIAS_NAME`s). A malformed list is refused whole, naming its line.

text_enum! {
    /// The lists Qianbao reads.
    pub enum ListKind {
        /// OFAC's Specially Designated Nationals list, `sdn.csv`.
        OfacSdn => "ofac_sdn",
        /// The UN Security Council consolidated list, `consolidated.xml`.
        Un => "un",
    }
}

/// One name on a list (an alias is a name of its own with the same reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub reference: String,
    pub name: String,
    pub individual: bool,
}

/// Why a list was refused: the line (1-based) and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListError {
    pub line: u64,
    pub message: String,
}

/// Names on one list at most (the SDN list has about 18,000 with aliases; the UN one about 1,500).
pub const LISTED_MAX: usize = 200_000;
const EMPTY: &str = "-0-";

pub fn parse(kind: ListKind, text: &str) -> Result<Vec<Listed>, ListError> {
    let names = match kind {
        ListKind::OfacSdn => sdn_csv(text)?,
        ListKind::Un => un_xml(text)?,
    };
    if names.is_empty() {
        return Err(ListError { line: 1, message: "the list names no one".into() });
    }
    if names.len() > LISTED_MAX {
        return Err(ListError { line: 1, message: format!("more than {LISTED_MAX} names") });
    }
    Ok(names)
}

fn sdn_csv(text: &str) -> Result<Vec<Listed>, ListError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(false).from_reader(text.as_bytes());
    let mut names = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ListError { line: e.position().map_or(0, |p| p.line()), message: e.to_string() })?;
        let line = record.position().map_or(0, |p| p.line());
        let bad = |message: &str| ListError { line, message: message.to_string() };
        if record.len() < 4 {
            return Err(bad("an SDN row has at least ent_num, SDN_Name, SDN_Type and Program"));
        }
        let reference = record[0].trim();
        if reference.is_empty() || !reference.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("ent_num is a number"));
        }
        let name = record[1].trim();
        if name.is_empty() || name == EMPTY {
            return Err(bad("SDN_Name is empty"));
        }
        names.push(Listed { reference: reference.to_string(), name: name.to_string(), individual: record[2].trim() == "individual" });
    }
    Ok(names)
}

/// The UN list's people and entities, each name part of an entry joined, each alias its own name.
fn un_xml(text: &str) -> Result<Vec<Listed>, ListError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let line_at = |position: u64| text.as_bytes()[..(position as usize).min(text.len())].iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let mut names = Vec::new();
    let (mut entry, mut parts, mut aliases, mut reference) = (None::<bool>, Vec::new(), Vec::new(), String::new());
    let mut field = String::new();
    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|e| ListError { line: line_at(position), message: e.to_string() })?;
        match event {
            Event::Start(e) => {
                field = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                match field.as_str() {
                    "INDIVIDUAL" => entry = Some(true),
                    "ENTITY" => entry = Some(false),
                    _ => {}
                }
            }
            Event::Text(t) if entry.is_some() => {
                let value = t.decode().map_err(|e| ListError { line: line_at(position), message: e.to_string() })?;
                let value =
                    quick_xml::escape::unescape(&value).map_err(|e| ListError { line: line_at(position), message: e.to_string() })?;
                let value = value.trim();
                match field.as_str() {
                    "FIRST_NAME" | "SECOND_NAME" | "THIRD_NAME" | "FOURTH_NAME" if !value.is_empty() => parts.push(value.to_string()),
                    "ALIAS_NAME" if !value.is_empty() => aliases.push(value.to_string()),
                    "REFERENCE_NUMBER" => reference = value.to_string(),
                    _ => {}
                }
            }
            Event::End(e) => {
                let name = e.name();
                let closing = name.as_ref();
                if let (b"INDIVIDUAL" | b"ENTITY", Some(individual)) = (closing, entry) {
                    if reference.is_empty() || parts.is_empty() {
                        return Err(ListError { line: line_at(position), message: "an entry without REFERENCE_NUMBER or a name".into() });
                    }
                    names.push(Listed { reference: reference.clone(), name: parts.join(" "), individual });
                    names.extend(aliases.drain(..).map(|a| Listed { reference: reference.clone(), name: a, individual }));
                    (entry, reference) = (None, String::new());
                    parts.clear();
                }
                field.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if entry.is_some() {
        return Err(ListError { line: line_at(text.len() as u64), message: "the list ends inside an entry".into() });
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sdn_csv_reads_each_row_and_a_bad_row_names_its_line() {
        let text = "36,\"AEROCARIBBEAN AIRLINES\",-0- ,\"CUBA\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n2674,\"ABBAS, Abu\",\"individual\",\"SDGT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"DOB 1948\"\n";
        let names = parse(ListKind::OfacSdn, text).unwrap();
        assert_eq!(names[1], Listed { reference: "2674".into(), name: "ABBAS, Abu".into(), individual: true });
        assert!(!names[0].individual);
        let bad = format!("{text}x12,\"NOBODY\",\"individual\",\"SDGT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n");
        assert_eq!(parse(ListKind::OfacSdn, &bad).unwrap_err().line, 3);
    }

    #[test]
    fn a_un_xml_reads_people_entities_and_aliases_and_a_broken_one_names_its_line() {
        let text = "<CONSOLIDATED_LIST>\n<INDIVIDUALS>\n<INDIVIDUAL><DATAID>1</DATAID><FIRST_NAME>AYMAN</FIRST_NAME><SECOND_NAME>AL-ZAWAHIRI</SECOND_NAME><REFERENCE_NUMBER>QDi.006</REFERENCE_NUMBER><INDIVIDUAL_ALIAS><QUALITY>Good</QUALITY><ALIAS_NAME>Abu Fatima</ALIAS_NAME></INDIVIDUAL_ALIAS></INDIVIDUAL>\n</INDIVIDUALS>\n<ENTITIES><ENTITY><FIRST_NAME>AL-RASHID TRUST</FIRST_NAME><REFERENCE_NUMBER>QDe.005</REFERENCE_NUMBER></ENTITY></ENTITIES>\n</CONSOLIDATED_LIST>\n";
        let names = parse(ListKind::Un, text).unwrap();
        let got: Vec<(&str, &str, bool)> = names.iter().map(|n| (n.reference.as_str(), n.name.as_str(), n.individual)).collect();
        assert_eq!(got, [("QDi.006", "AYMAN AL-ZAWAHIRI", true), ("QDi.006", "Abu Fatima", true), ("QDe.005", "AL-RASHID TRUST", false)]);
        let broken = "<CONSOLIDATED_LIST>\n<INDIVIDUALS>\n<INDIVIDUAL><FIRST_NAME>X</FIRST_NAME></WRONG>\n";
        assert_eq!(parse(ListKind::Un, broken).unwrap_err().line, 3);
    }
}
