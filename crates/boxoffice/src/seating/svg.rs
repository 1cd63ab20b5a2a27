//! The seat map drawn as SVG for the web UI: one circle per seat at its layout
//! position, coloured by its live state, with the label as a tooltip. Standalone
//! (`seats.svg`) it carries its colours; inside a page, whose policy allows no inline
//! style, the page's stylesheet colours the same classes.
use super::cache::ShowSeats;
use super::status::letter;
use boxoffice_domain::seating::SeatState;
use std::fmt::Write;

const RADIUS: i32 = 4;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The map as a document of its own, with its colours.
pub fn render(seats: &ShowSeats, states: &[SeatState]) -> String {
    draw(seats, states, true)
}

/// The map to place inside a page: no `<style>`, hidden from assistive technology
/// (the page lists the seats as form fields).
pub fn render_inline(seats: &ShowSeats, states: &[SeatState]) -> String {
    draw(seats, states, false)
}

fn draw(seats: &ShowSeats, states: &[SeatState], standalone: bool) -> String {
    let (mut max_x, mut max_y) = (0, 0);
    for s in seats.seats.iter() {
        max_x = max_x.max(s.x);
        max_y = max_y.max(s.y);
    }
    let pad = RADIUS * 3;
    let mut out = String::with_capacity(seats.seats.len() * 96 + 512);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="{} {} {} {}"{}>"#,
        -pad,
        -pad,
        max_x + 2 * pad,
        max_y + 2 * pad,
        if standalone {
            ""
        } else {
            r#" class="seat-svg" aria-hidden="true" focusable="false""#
        }
    );
    if standalone {
        out.push_str(
            "<style>.f{fill:#2e7d32}.h{fill:#f9a825}.s{fill:#9e9e9e}.b{fill:#424242}\
             .a{stroke:#1565c0;stroke-width:1.5}</style>",
        );
    }
    for (s, state) in seats.seats.iter().zip(states) {
        let class = if s.accessible || s.companion {
            format!("{} a", letter(*state))
        } else {
            letter(*state).to_string()
        };
        let _ = write!(
            out,
            r#"<circle id="s{}" class="{class}" cx="{}" cy="{}" r="{RADIUS}"><title>{}</title></circle>"#,
            s.idx,
            s.x,
            s.y,
            escape(&s.label)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape(r#"<A&"1">"#), "&lt;A&amp;&quot;1&quot;&gt;");
    }
}
