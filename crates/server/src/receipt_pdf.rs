//! Donation receipts as PDF (A4), with the same fields as their JSON: what a tax office asks of a
//! charitable-donation receipt (the charity, its registration, the donor's name as verified, the
//! amount and currency, the date, a unique number); and a donor's year with one charity, every gift
//! listed, over as many pages as it takes.
//!
//! Latin text is set in Helvetica; any line with other characters (a Chinese name) in Adobe's
//! `STSong-Light` through the predefined `UniGB-UCS2-H` CMap (Adobe-GB1, which holds simplified and
//! traditional characters). Both are fonts PDF readers carry themselves, so nothing is embedded and a
//! receipt stays a few kilobytes.

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use platform::charity::{DonationState, Receipt, YearSummary};

/// A4, in points.
const PAGE_WIDTH_PT: f32 = 595.0;
const PAGE_HEIGHT_PT: f32 = 842.0;
const MARGIN_PT: f32 = 56.0;
const LINE_PT: f32 = 22.0;
/// Listed lines per page (a year's gifts run on over more pages).
const LINES_PER_PAGE_MAX: usize = 28;
/// Pages of one document at most (a year of gifts is bounded by the listing's own limit first).
const PAGES_MAX: usize = 50;
/// The Latin and the CJK fonts' resource names.
const LATIN: Name<'static> = Name(b"F1");
const CJK: Name<'static> = Name(b"F2");
const FOOTER: &str = "Issued by Qianbao for the charity named above. Void if a donation is refunded or charged back.";

/// What a document shows: a heading, labelled fields, then listed lines.
struct Document<'a> {
    title: &'a str,
    title_zh: &'a str,
    fields: Vec<(&'static str, String)>,
    lines: Vec<String>,
}

/// One donation's receipt.
pub fn render(r: &Receipt) -> Vec<u8> {
    let fields = vec![
        ("Receipt number", r.receipt_no.clone()),
        ("Date", r.date.clone()),
        ("Charity", r.charity_name.clone()),
        ("Registration", format!("{} ({})", r.charity_number, r.jurisdiction)),
        ("Campaign", r.campaign.clone()),
        ("Donor", r.donor_name.clone()),
        ("Identity verified", verified(r.donor_verified).to_string()),
        ("Amount", format!("{} {}", r.amount, r.currency.code())),
        ("Status", status(r.state).to_string()),
    ];
    let title = format!("Donation receipt {}", r.receipt_no);
    write(&Document { title: &title, title_zh: "捐款收據", fields, lines: Vec::new() })
}

/// A donor's year of gifts to one charity: the totals per currency, then every receipt.
pub fn render_year(y: &YearSummary) -> Vec<u8> {
    let mut fields = vec![
        ("Year", y.year.to_string()),
        ("Charity", y.charity_name.clone()),
        ("Registration", format!("{} ({})", y.charity_number, y.jurisdiction)),
        ("Donor", y.donor_name.clone()),
    ];
    fields.extend(y.totals.iter().map(|t| ("Total", format!("{} {} ({} gifts)", t.amount, t.currency.code(), t.donations))));
    let lines = y
        .receipts
        .iter()
        .map(|r| format!("{}   {}   {} {}   {}", r.date, r.receipt_no, r.amount, r.currency.code(), status(r.state)))
        .collect();
    let title = format!("Donations to {} in {}", y.charity_name, y.year);
    write(&Document { title: &title, title_zh: "年度捐款摘要", fields, lines })
}

fn verified(yes: bool) -> &'static str {
    if yes { "yes, by the platform (KYC)" } else { "no" }
}

fn status(state: DonationState) -> &'static str {
    match state {
        DonationState::Donated => "donated",
        DonationState::Refunded => "VOID: refunded",
        DonationState::ChargedBack => "VOID: charged back",
    }
}

/// The PDF: catalog, pages, fonts, then each page's content.
fn write(doc: &Document<'_>) -> Vec<u8> {
    let pages = paginate(doc);
    let mut pdf = Pdf::new();
    let (catalog, tree, latin, cjk, cid, descriptor, info) =
        (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4), Ref::new(5), Ref::new(6), Ref::new(7));
    let page_ref = |i: usize| Ref::new(8 + 2 * i as i32);
    let content_ref = |i: usize| Ref::new(9 + 2 * i as i32);
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids((0..pages.len()).map(page_ref)).count(pages.len() as i32);
    fonts(&mut pdf, latin, cjk, cid, descriptor);
    pdf.document_info(info).title(TextStr(doc.title)).producer(TextStr("Qianbao"));
    for (i, body) in pages.iter().enumerate() {
        let mut page = pdf.page(page_ref(i));
        page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH_PT, PAGE_HEIGHT_PT)).parent(tree).contents(content_ref(i));
        page.resources().fonts().pair(LATIN, latin).pair(CJK, cjk);
        page.finish();
        pdf.stream(content_ref(i), body);
    }
    pdf.finish()
}

/// Helvetica, and STSong-Light with its CID font and descriptor (not embedded).
fn fonts(pdf: &mut Pdf, latin: Ref, cjk: Ref, cid: Ref, descriptor: Ref) {
    pdf.type1_font(latin).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type0_font(cjk).base_font(Name(b"STSong-Light")).encoding_predefined(Name(b"UniGB-UCS2-H")).descendant_font(cid);
    let system = SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"GB1"), supplement: 4 };
    pdf.cid_font(cid).subtype(CidFontType::Type0).base_font(Name(b"STSong-Light")).system_info(system).font_descriptor(descriptor);
    pdf.font_descriptor(descriptor)
        .name(Name(b"STSong-Light"))
        .flags(FontFlags::SYMBOLIC)
        .bbox(Rect::new(-25.0, -254.0, 1000.0, 880.0))
        .italic_angle(0.0)
        .ascent(880.0)
        .descent(-120.0)
        .cap_height(880.0)
        .stem_v(93.0);
}

/// Each page's content: the heading and fields on the first, the listed lines after them, the
/// footer on the last.
fn paginate(doc: &Document<'_>) -> Vec<Vec<u8>> {
    let mut pages = Vec::new();
    let mut c = Content::new();
    let mut y = PAGE_HEIGHT_PT - MARGIN_PT - 20.0;
    line(&mut c, MARGIN_PT, y, 20.0, doc.title);
    y -= 26.0;
    line(&mut c, MARGIN_PT, y, 14.0, doc.title_zh);
    y -= LINE_PT * 1.5;
    for (label, value) in &doc.fields {
        line(&mut c, MARGIN_PT, y, 11.0, label);
        line(&mut c, MARGIN_PT + 150.0, y, 11.0, value);
        y -= LINE_PT;
    }
    let mut on_page = 0;
    for text in &doc.lines {
        if on_page == LINES_PER_PAGE_MAX || y < MARGIN_PT + LINE_PT * 2.0 {
            if pages.len() + 1 == PAGES_MAX {
                break;
            }
            pages.push(std::mem::replace(&mut c, Content::new()).finish());
            (y, on_page) = (PAGE_HEIGHT_PT - MARGIN_PT, 0);
        }
        line(&mut c, MARGIN_PT, y, 10.0, text);
        (y, on_page) = (y - LINE_PT * 0.8, on_page + 1);
    }
    line(&mut c, MARGIN_PT, MARGIN_PT, 9.0, FOOTER);
    pages.push(c.finish());
    pages
}

/// One line of text at (`x`, `y`): Helvetica when it is all printable ASCII, else the CJK font (its
/// characters as UCS-2, big-endian; any outside the Basic Multilingual Plane shown as '?').
fn line(c: &mut Content, x: f32, y: f32, size: f32, text: &str) {
    c.begin_text();
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        c.set_font(LATIN, size).next_line(x, y).show(Str(text.as_bytes()));
    } else {
        c.set_font(CJK, size).next_line(x, y).show(Str(&ucs2(text)));
    }
    c.end_text();
}

/// `text` as UCS-2, big-endian.
fn ucs2(text: &str) -> Vec<u8> {
    text.chars()
        .map(|ch| if ch.is_control() { ' ' } else { ch })
        .flat_map(|ch| u16::try_from(u32::from(ch)).unwrap_or(u16::from(b'?')).to_be_bytes())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(name: &str, state: DonationState) -> Receipt {
        Receipt {
            receipt_no: "QB-7-2026-42".into(),
            charity_name: "Unicef HK".into(),
            charity_number: "91/123".into(),
            jurisdiction: "HK".into(),
            donor_name: name.into(),
            donor_verified: true,
            amount: "100.00".into(),
            currency: money::Currency::from_code("HKD").unwrap(),
            date: "2026-12-02".into(),
            campaign: "Nepal earthquake appeal".into(),
            state,
            donation_id: 42,
        }
    }

    #[test]
    fn a_receipt_is_one_well_formed_page_with_every_field() {
        let pdf = render(&receipt("Wing Chan", DonationState::Donated));
        assert!(pdf.starts_with(b"%PDF-1.7"), "a PDF header");
        assert!(pdf.ends_with(b"%%EOF\n") || pdf.ends_with(b"%%EOF"), "a PDF trailer");
        let text = String::from_utf8_lossy(&pdf);
        for field in ["(QB-7-2026-42)", "(Unicef HK)", "(91/123 (HK))", "(Wing Chan)", "(100.00 HKD)", "(2026-12-02)", "/Count 1"] {
            assert!(text.contains(field), "{field} in the PDF");
        }
        // Every object the cross-reference table points at starts where it says.
        // (Offsets count bytes: read the table from the bytes, past the header's binary marker.)
        let xref = pdf.windows(6).rposition(|w| w == b"\nxref\n").expect("a cross-reference table");
        let table = String::from_utf8(pdf[xref + 6..].to_vec()).expect("the table and trailer are ASCII");
        for (n, entry) in table.lines().skip(2).take(9).enumerate() {
            let offset: usize = entry[..10].parse().unwrap();
            assert!(pdf[offset..].starts_with(format!("{} 0 obj", n + 1).as_bytes()), "object {} at {offset}", n + 1);
        }
    }

    #[test]
    fn a_chinese_name_is_set_in_the_cjk_font_as_ucs2() {
        let pdf = render(&receipt("陳大文", DonationState::Donated));
        // Not ASCII, so written as a hex string.
        let hex: String = ucs2("陳大文").iter().map(|b| format!("{b:02x}")).collect();
        let text = String::from_utf8_lossy(&pdf).to_lowercase();
        assert!(text.contains(&format!("<{hex}>")), "the name's UCS-2 in the page: {hex}");
        assert!(String::from_utf8_lossy(&pdf).contains("/UniGB-UCS2-H"));
    }

    #[test]
    fn a_long_year_runs_on_over_more_pages() {
        let one = receipt("Wing", DonationState::Donated);
        let year = YearSummary {
            year: 2026,
            charity_name: "Unicef HK".into(),
            charity_number: "91/123".into(),
            jurisdiction: "HK".into(),
            donor_name: "Wing".into(),
            totals: Vec::new(),
            receipts: vec![one; 60],
        };
        let text = String::from_utf8_lossy(&render_year(&year)).to_string();
        assert!(text.contains("/Count 3"), "60 gifts at 28 a page are three pages");
    }

    #[test]
    fn a_refunded_gifts_receipt_says_it_is_void() {
        let pdf = render(&receipt("Wing", DonationState::Refunded));
        assert!(String::from_utf8_lossy(&pdf).contains("(VOID: refunded)"));
    }
}
