//! Tickets on paper and screen: the QR code as SVG for pages and as vector squares in
//! a PDF (one page per ticket, built-in Helvetica, nothing embedded), so a printed
//! ticket scans exactly like the one on a phone.
use super::qr::Matrix;
use crate::error::Result;
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
use qrcode::render::Renderer;
use qrcode::EcLevel;

/// Light modules around the symbol, as the standard asks.
const QUIET_ZONE: u32 = 4;

/// What one PDF page shows.
#[derive(Clone, Debug)]
pub struct TicketPage {
    pub event: String,
    pub venue: String,
    pub starts_at: String,
    pub zone: String,
    pub seat: Option<String>,
    pub holder: String,
    pub code: String,
    /// The QR code's content.
    pub qr: String,
}

fn code_of(payload: &str) -> Result<Matrix> {
    super::qr::encode(payload.as_bytes(), EcLevel::M)
}

/// The QR code of `payload` as a standalone SVG document.
pub fn qr_svg(payload: &str) -> Result<String> {
    let code = code_of(payload)?;
    let colors = code.colors();
    Ok(
        Renderer::<qrcode::render::svg::Color>::new(&colors, code.width, QUIET_ZONE)
            .min_dimensions(256, 256)
            .quiet_zone(true)
            .build(),
    )
}

/// Text the built-in fonts can show: printable ASCII, anything else as `?`.
fn latin(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c as u8
            } else {
                b'?'
            }
        })
        .collect()
}

const A6: (f32, f32) = (298.0, 420.0);
const REGULAR: Name = Name(b"F1");
const BOLD: Name = Name(b"F2");

fn line(content: &mut Content, font: Name, size: f32, x: f32, y: f32, text: &str) {
    content
        .begin_text()
        .set_font(font, size)
        .next_line(x, y)
        .show(Str(&latin(text)))
        .end_text();
}

fn page_content(page: &TicketPage) -> Result<Vec<u8>> {
    let (width, height) = A6;
    let mut c = Content::new();
    let margin = 24.0;
    let mut y = height - margin - 16.0;
    line(&mut c, BOLD, 15.0, margin, y, &page.event);
    y -= 18.0;
    line(&mut c, REGULAR, 10.0, margin, y, &page.venue);
    y -= 13.0;
    line(&mut c, REGULAR, 10.0, margin, y, &page.starts_at);
    y -= 20.0;
    let place = match &page.seat {
        Some(seat) => format!("{} - seat {seat}", page.zone),
        None => page.zone.clone(),
    };
    line(&mut c, BOLD, 12.0, margin, y, &place);
    y -= 15.0;
    line(&mut c, REGULAR, 10.0, margin, y, &page.holder);

    // The QR code: one filled rectangle per horizontal run of dark modules, with a
    // quiet zone.
    let code = code_of(&page.qr)?;
    let modules = code.width;
    let side = width - 2.0 * margin - 40.0;
    let cell = side / (modules as f32 + 2.0 * QUIET_ZONE as f32);
    let left = (width - cell * modules as f32) / 2.0;
    let top = y - 20.0 - QUIET_ZONE as f32 * cell;
    c.set_fill_gray(0.0);
    for (row, line) in code.dark.chunks(modules).enumerate() {
        let mut col = 0;
        while col < modules {
            if !line[col] {
                col += 1;
                continue;
            }
            let run = line[col..].iter().take_while(|&&d| d).count();
            c.rect(
                left + col as f32 * cell,
                top - (row as f32 + 1.0) * cell,
                cell * run as f32,
                cell,
            );
            col += run;
        }
    }
    c.fill_nonzero();
    line(&mut c, REGULAR, 9.0, margin, margin + 14.0, "Ticket code");
    line(&mut c, BOLD, 11.0, margin, margin, &page.code);
    Ok(c.finish().into_vec())
}

/// One A6 page per ticket.
pub fn pdf(pages: &[TicketPage]) -> Result<Vec<u8>> {
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let first = 5;
    let page_ids: Vec<Ref> = (0..pages.len())
        .map(|n| Ref::new(first + 2 * n as i32))
        .collect();
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(pages.len() as i32);
    pdf.type1_font(regular).base_font(Name(b"Helvetica"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold"));
    for (page, id) in pages.iter().zip(&page_ids) {
        let content_id = Ref::new(id.get() + 1);
        let mut p = pdf.page(*id);
        p.media_box(Rect::new(0.0, 0.0, A6.0, A6.1))
            .parent(tree)
            .contents(content_id);
        p.resources()
            .fonts()
            .pair(REGULAR, regular)
            .pair(BOLD, bold);
        p.finish();
        pdf.stream(content_id, &page_content(page)?);
    }
    Ok(pdf.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(holder: &str) -> TicketPage {
        TicketPage {
            event: "Aurora Live".into(),
            venue: "Lisbon Arena".into(),
            starts_at: "2027-06-01T20:00:00Z".into(),
            zone: "Floor".into(),
            seat: Some("A-12".into()),
            holder: holder.into(),
            code: "ABCD-EFGH".into(),
            qr: "eyJhbGciOiJFZERTQSJ9.eyJ0aWQiOiIxIn0.c2ln".into(),
        }
    }

    #[test]
    fn a_pdf_has_a_page_per_ticket_and_the_text() {
        let bytes = pdf(&[page("Ana"), page("Bo Ærø")]).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(text.matches("/MediaBox").count(), 2);
        assert!(text.contains("(Aurora Live)"));
        assert!(
            text.contains("(Bo ?r?)"),
            "non-ASCII text is replaced, not dropped"
        );
        assert!(text.contains("/Helvetica-Bold"));
    }

    #[test]
    fn the_svg_is_a_qr_code() {
        let svg = qr_svg("hello").unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }
}
