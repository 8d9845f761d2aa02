//! A donation's receipt as a one-page PDF (A4), with the same fields as the JSON receipt: what a tax
//! office asks of a charitable-donation receipt (the charity, its registration, the donor's name as
//! verified, the amount and currency, the date, a unique number).
//!
//! Latin text is set in Helvetica; any line with other characters (a Chinese name) in Adobe's
//! `STSong-Light` through the predefined `UniGB-UCS2-H` CMap (Adobe-GB1, which holds simplified and
//! traditional characters). Both are fonts PDF readers carry themselves, so nothing is embedded and a
//! receipt stays a few kilobytes.

use pdf_writer::types::{CidFontType, FontFlags};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
use platform::charity::{DonationState, Receipt};

/// A4, in points.
const PAGE_WIDTH_PT: f32 = 595.0;
const PAGE_HEIGHT_PT: f32 = 842.0;
const MARGIN_PT: f32 = 56.0;
const LINE_PT: f32 = 22.0;
/// The Latin and the CJK fonts' resource names.
const LATIN: Name<'static> = Name(b"F1");
const CJK: Name<'static> = Name(b"F2");

/// The receipt's PDF.
pub fn render(r: &Receipt) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let [catalog, pages, page, contents, latin, cjk, cid, descriptor, info] = refs();
    pdf.catalog(catalog).pages(pages);
    pdf.pages(pages).kids([page]).count(1);
    let mut p = pdf.page(page);
    p.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH_PT, PAGE_HEIGHT_PT)).parent(pages).contents(contents);
    p.resources().fonts().pair(LATIN, latin).pair(CJK, cjk);
    p.finish();
    pdf.type1_font(latin).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type0_font(cjk).base_font(Name(b"STSong-Light")).encoding_predefined(Name(b"UniGB-UCS2-H")).descendant_font(cid);
    let system = pdf_writer::types::SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"GB1"), supplement: 4 };
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
    let title = format!("Donation receipt {}", r.receipt_no);
    pdf.document_info(info).title(pdf_writer::TextStr(&title)).producer(pdf_writer::TextStr("Qianbao"));
    let body = content(r);
    pdf.stream(contents, &body);
    pdf.finish()
}

fn refs() -> [Ref; 9] {
    std::array::from_fn(|i| Ref::new(i as i32 + 1))
}

/// The page's lines: a heading, each field with its label, and what makes the receipt void.
fn content(r: &Receipt) -> Vec<u8> {
    let mut c = Content::new();
    let mut y = PAGE_HEIGHT_PT - MARGIN_PT - 20.0;
    line(&mut c, MARGIN_PT, y, 20.0, "Donation receipt");
    y -= 26.0;
    line(&mut c, MARGIN_PT, y, 14.0, "捐款收據");
    y -= LINE_PT * 1.5;
    let registration = format!("{} ({})", r.charity_number, r.jurisdiction);
    let amount = format!("{} {}", r.amount, r.currency.code());
    let verified = if r.donor_verified { "yes, by the platform (KYC)" } else { "no" };
    let fields: [(&str, &str); 9] = [
        ("Receipt number", &r.receipt_no),
        ("Date", &r.date),
        ("Charity", &r.charity_name),
        ("Registration", &registration),
        ("Campaign", &r.campaign),
        ("Donor", &r.donor_name),
        ("Identity verified", verified),
        ("Amount", &amount),
        ("Status", status(r.state)),
    ];
    for (label, value) in fields {
        line(&mut c, MARGIN_PT, y, 11.0, label);
        line(&mut c, MARGIN_PT + 150.0, y, 11.0, value);
        y -= LINE_PT;
    }
    y -= LINE_PT;
    line(&mut c, MARGIN_PT, y, 9.0, "Issued by Qianbao for the charity named above. Void if the donation is refunded or charged back.");
    c.finish()
}

fn status(state: DonationState) -> &'static str {
    match state {
        DonationState::Donated => "donated",
        DonationState::Refunded => "VOID: refunded",
        DonationState::ChargedBack => "VOID: charged back",
    }
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
pub fn ucs2(text: &str) -> Vec<u8> {
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
        for field in ["(QB-7-2026-42)", "(Unicef HK)", "(91/123 \\(HK\\))", "(Wing Chan)", "(100.00 HKD)", "(2026-12-02)", "/Count 1"] {
            assert!(text.contains(field), "{field} in the PDF");
        }
        // Every object the cross-reference table points at starts where it says.
        let xref = text.rfind("\nxref\n").expect("a cross-reference table");
        for (n, entry) in text[xref + 6..].lines().skip(2).take(9).enumerate() {
            let offset: usize = entry[..10].parse().unwrap();
            assert!(text[offset..].starts_with(&format!("{} 0 obj", n + 1)), "object {} at {offset}", n + 1);
        }
    }

    #[test]
    fn a_chinese_name_is_set_in_the_cjk_font_as_ucs2() {
        let pdf = render(&receipt("陳大文", DonationState::Donated));
        let name = ucs2("陳大文");
        assert!(pdf.windows(name.len()).any(|w| w == name.as_slice()), "the name's UCS-2 in the page");
        assert!(String::from_utf8_lossy(&pdf).contains("/UniGB-UCS2-H"));
    }

    #[test]
    fn a_refunded_gifts_receipt_says_it_is_void() {
        let pdf = render(&receipt("Wing", DonationState::Refunded));
        assert!(String::from_utf8_lossy(&pdf).contains("(VOID: refunded)"));
    }
}
