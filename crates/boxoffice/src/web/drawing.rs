//! A seat map as organizers type it, one line per block of rows:
//! `Section | Rows | Seats | Zone [| Accessible]`, e.g. `Stalls | A-F | 1-10, 13-22 | Front`.
//! Rows are a letter or number range or list, seats number ranges (a gap is an aisle),
//! the zone one of the show's by name. Lines are laid out top to bottom (the stage is
//! above the first), each row centred; the same text comes back from a show's map.
use crate::seating::{LayoutRowInput, SeatView};
use std::collections::HashMap;

/// Spacing between neighbouring seats and rows on the map.
const STEP: i32 = 10;
/// Extra space between sections.
const SECTION_GAP: i32 = 20;
/// Most runs of seats a drawing may produce (the layout's own limit).
const MAX_RUNS: usize = 5_000;
/// Most seats a drawing may produce.
const MAX_SEATS: u64 = crate::seating::MAX_LAYOUT_SEATS as u64;

/// A line that could not be read, in words.
#[derive(Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// One block of rows as typed.
struct Block {
    section: String,
    rows: Vec<String>,
    /// Inclusive ranges of seat numbers, in order.
    seats: Vec<(i32, i32)>,
    zone: String,
    accessible: Vec<i32>,
}

fn numbers(raw: &str) -> Result<Vec<(i32, i32)>, String> {
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b) = (a.trim().parse::<i32>(), b.trim().parse::<i32>());
        match (a, b) {
            (Ok(a), Ok(b)) if (1..=100_000).contains(&a) && (a..=100_000).contains(&b) => {
                out.push((a, b))
            }
            _ => {
                return Err(format!(
                    "\"{part}\" is not a range of seat numbers such as 1-20"
                ))
            }
        }
    }
    if out.is_empty() {
        return Err("list the seat numbers, such as 1-20".into());
    }
    Ok(out)
}

/// `A-F`, `1-4`, `AA, BB` or a mix: the row labels in order.
fn rows(raw: &str, budget: usize) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((a, b)) = part.split_once('-').map(|(a, b)| (a.trim(), b.trim())) else {
            out.push(part.to_owned());
            continue;
        };
        let letters = |s: &str| s.len() == 1 && s.bytes().all(|c| c.is_ascii_alphabetic());
        if letters(a)
            && letters(b)
            && a.bytes().all(|c| c.is_ascii_uppercase())
                == b.bytes().all(|c| c.is_ascii_uppercase())
        {
            let (a, b) = (a.as_bytes()[0], b.as_bytes()[0]);
            if a > b {
                return Err(format!("rows \"{part}\" run backwards"));
            }
            out.extend((a..=b).map(|c| (c as char).to_string()));
        } else if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
            if a > b || (b - a) as usize >= budget {
                return Err(format!("rows \"{part}\" are not a range that fits the map"));
            }
            out.extend((a..=b).map(|n| n.to_string()));
        } else {
            return Err(format!(
                "\"{part}\" is not a range of rows such as A-F or 1-12"
            ));
        }
        if out.len() > budget {
            break;
        }
    }
    if out.is_empty() {
        return Err("name the rows, such as A-F".into());
    }
    Ok(out)
}

fn block(line: &str, budget: usize) -> Result<Block, String> {
    let cols: Vec<&str> = line.split('|').map(str::trim).collect();
    if !(4..=5).contains(&cols.len()) {
        return Err(
            "write Section | Rows | Seats | Zone, with an optional | Accessible seats".into(),
        );
    }
    let named = |what: &str, s: &str| {
        if s.is_empty() || s.chars().count() > 40 {
            Err(format!("the {what} must be 1 to 40 characters"))
        } else {
            Ok(s.to_owned())
        }
    };
    let accessible = match cols.get(4) {
        Some(raw) if !raw.is_empty() => numbers(raw)?
            .into_iter()
            .flat_map(|(a, b)| a..=b.min(a.saturating_add(1_000)))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Block {
        section: named("section", cols[0])?,
        rows: rows(cols[1], budget)?,
        seats: numbers(cols[2])?,
        zone: named("zone", cols[3])?,
        accessible,
    })
}

/// The runs of seats `text` draws, or every line that could not be read.
pub fn parse(text: &str) -> Result<Vec<LayoutRowInput>, Vec<LineError>> {
    let mut blocks = Vec::new();
    let mut errors = Vec::new();
    let (mut runs, mut seats) = (0usize, 0u64);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error = |message: String| LineError {
            line: n + 1,
            message,
        };
        match block(line, MAX_RUNS.saturating_sub(runs).max(1)) {
            Ok(b) => {
                runs += b.rows.len() * b.seats.len();
                let per_row: u64 = b
                    .seats
                    .iter()
                    .map(|(a, z)| u64::from((z - a + 1) as u32))
                    .sum();
                seats += per_row * b.rows.len() as u64;
                if runs > MAX_RUNS || seats > MAX_SEATS {
                    errors.push(error(format!(
                        "the map grows past {MAX_SEATS} seats or {MAX_RUNS} runs of seats here"
                    )));
                    break;
                }
                blocks.push(b);
            }
            Err(message) => errors.push(error(message)),
        }
    }
    if blocks.is_empty() && errors.is_empty() {
        errors.push(LineError {
            line: 1,
            message: "draw at least one line, such as Stalls | A-F | 1-20 | Floor".into(),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(lay_out(&blocks))
}

/// Rows top to bottom, each centred on the widest.
fn lay_out(blocks: &[Block]) -> Vec<LayoutRowInput> {
    let width = |b: &Block| {
        let lo = b.seats.iter().map(|s| s.0).min().unwrap_or(1);
        let hi = b.seats.iter().map(|s| s.1).max().unwrap_or(1);
        (hi - lo) * STEP
    };
    let widest = blocks.iter().map(width).max().unwrap_or(0);
    let mut out = Vec::new();
    let mut y = STEP;
    let mut section: Option<&str> = None;
    for b in blocks {
        if section.is_some_and(|s| s != b.section) {
            y += SECTION_GAP;
        }
        section = Some(&b.section);
        let lo = b.seats.iter().map(|s| s.0).min().unwrap_or(1);
        let left = (widest - width(b)) / 2;
        for row in &b.rows {
            for &(first, last) in &b.seats {
                out.push(LayoutRowInput {
                    section: b.section.clone(),
                    row: row.clone(),
                    first,
                    count: (last - first + 1) as u32,
                    x: left + (first - lo) * STEP,
                    y,
                    spacing: Some(STEP),
                    category: b.zone.clone(),
                    accessible: b
                        .accessible
                        .iter()
                        .copied()
                        .filter(|n| (first..=last).contains(n))
                        .collect(),
                    companion: Vec::new(),
                });
            }
            y += STEP;
        }
    }
    out
}

/// One row's seats of one zone, as `describe` gathers them.
struct RowSeats {
    section: String,
    row: String,
    zone: String,
    numbers: Vec<i32>,
    accessible: Vec<i32>,
}

impl RowSeats {
    /// Whether `next` continues this line: the following row, the same everything else.
    fn folds(&self, next: &RowSeats) -> bool {
        next_label(&self.row).is_some_and(|l| l == next.row)
            && next.section == self.section
            && next.zone == self.zone
            && next.numbers == self.numbers
            && next.accessible == self.accessible
    }
}

/// `1, 2, 3, 7` → `1-3, 7`.
fn ranges(numbers: &[i32]) -> String {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<(i32, i32)> = Vec::new();
    for n in sorted {
        match out.last_mut() {
            Some((_, hi)) if *hi + 1 == n => *hi = n,
            _ => out.push((n, n)),
        }
    }
    out.iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text of a show's map, each seat under the name of its zone (`zones`: id →
/// name), rows with the same seats and zone folded into one line.
pub fn describe(seats: &[SeatView], zones: &HashMap<String, String>) -> String {
    let mut lines: Vec<RowSeats> = Vec::new();
    for s in seats {
        let zone = s
            .zone_id
            .map(|z| z.to_string())
            .and_then(|z| zones.get(&z).cloned())
            .unwrap_or_else(|| s.category.clone());
        let line = match lines.last_mut() {
            Some(l) if l.section == s.section && l.row == s.row && l.zone == zone => l,
            _ => {
                lines.push(RowSeats {
                    section: s.section.clone(),
                    row: s.row.clone(),
                    zone,
                    numbers: Vec::new(),
                    accessible: Vec::new(),
                });
                lines.last_mut().expect("just pushed")
            }
        };
        line.numbers.push(s.number);
        if s.accessible {
            line.accessible.push(s.number);
        }
    }
    let mut text = String::new();
    let mut i = 0;
    while i < lines.len() {
        let first = &lines[i];
        let mut j = i;
        while j + 1 < lines.len() && lines[j].folds(&lines[j + 1]) {
            j += 1;
        }
        let rows = if i == j {
            first.row.clone()
        } else {
            format!("{}-{}", first.row, lines[j].row)
        };
        text.push_str(&format!(
            "{} | {rows} | {} | {}",
            first.section,
            ranges(&first.numbers),
            first.zone
        ));
        if !first.accessible.is_empty() {
            text.push_str(&format!(" | {}", ranges(&first.accessible)));
        }
        text.push('\n');
        i = j + 1;
    }
    text
}

/// The label after `label` in a range: B after A, 13 after 12.
fn next_label(label: &str) -> Option<String> {
    if let Ok(n) = label.parse::<u32>() {
        return Some((n + 1).to_string());
    }
    let b = label.as_bytes();
    (b.len() == 1 && b[0].is_ascii_alphabetic() && !matches!(b[0], b'z' | b'Z'))
        .then(|| ((b[0] + 1) as char).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seats_of(runs: &[LayoutRowInput]) -> Vec<SeatView> {
        let mut out = Vec::new();
        for r in runs {
            for k in 0..r.count as i32 {
                let number = r.first + k;
                out.push(SeatView {
                    id: boxoffice_domain::SeatId::new(),
                    index: out.len() as u32,
                    section: r.section.clone(),
                    row: r.row.clone(),
                    number,
                    label: String::new(),
                    x: r.x,
                    y: r.y,
                    category: r.category.clone(),
                    accessible: r.accessible.contains(&number),
                    companion: false,
                    zone_id: None,
                    blocked: None,
                });
            }
        }
        out
    }

    #[test]
    fn lines_become_centred_rows_top_to_bottom() {
        let runs =
            parse("Stalls | A-B | 1-4 | Front\n\n# the back\nStalls | C | 1-2 | Back | 1").unwrap();
        let got: Vec<_> = runs
            .iter()
            .map(|r| {
                (
                    r.row.as_str(),
                    r.first,
                    r.count,
                    r.x,
                    r.y,
                    r.category.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("A", 1, 4, 0, 10, "Front"),
                ("B", 1, 4, 0, 20, "Front"),
                ("C", 1, 2, 10, 30, "Back"),
            ]
        );
        assert_eq!(runs[2].accessible, vec![1]);
    }

    #[test]
    fn an_aisle_is_a_gap_in_numbers_and_sections_are_spaced() {
        let runs = parse("Floor | 1 | 1-2, 5-6 | A\nBalcony | 1 | 1-6 | B").unwrap();
        let xs: Vec<_> = runs
            .iter()
            .map(|r| (r.section.as_str(), r.x, r.y))
            .collect();
        assert_eq!(
            xs,
            vec![("Floor", 0, 10), ("Floor", 40, 10), ("Balcony", 0, 40)]
        );
    }

    #[test]
    fn every_bad_line_is_named() {
        let errors =
            parse("Floor | A-F | 1-20\nFloor | F-A | 1-2 | A\nFloor | A | x | A\nok | A | 1 | A")
                .unwrap_err();
        let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 2, 3]);
        assert!(errors[1].message.contains("backwards"), "{errors:?}");
        assert!(parse("  \n# nothing\n").is_err());
    }

    #[test]
    fn a_huge_map_is_refused_before_it_is_built() {
        let errors = parse("Floor | 1-99999 | 1-1000 | A").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let errors = parse(&"Floor | A-Z | 1-1000 | A\n".repeat(10)).unwrap_err();
        assert!(errors[0].message.contains("100000 seats"), "{errors:?}");
    }

    #[test]
    fn the_text_of_a_map_reads_back_the_same() {
        let text = "Stalls | A-C | 1-10, 13-22 | Front | 1-2\nStalls | D | 1-8 | Back\nCircle | 1-3 | 1-6 | Back\n";
        let runs = parse(text).unwrap();
        let seats = seats_of(&runs);
        assert_eq!(describe(&seats, &HashMap::new()), text);
    }
}
