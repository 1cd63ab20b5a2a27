//! A ticket's QR code: encoded by the `qrcode` crate, with the mask chosen here. The
//! crate scores the eight masks through a boxed closure per module and position,
//! which made choosing the mask the most expensive step of issuing a ticket during an
//! on-sale; the same rules (ISO/IEC 18004 §7.8.3) scored over a plain grid cost a
//! fraction of that and pick an equally standard mask.
use crate::error::{Error, Result};
use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::{Color, EcLevel};

const MASKS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// The modules of a QR code, row by row, `true` for dark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    pub width: usize,
    pub dark: Vec<bool>,
}

impl Matrix {
    fn of(canvas: Canvas, width: usize) -> Self {
        Self {
            width,
            dark: canvas
                .into_colors()
                .into_iter()
                .map(|c| c == Color::Dark)
                .collect(),
        }
    }

    /// The colors, as the `qrcode` renderers take them.
    pub fn colors(&self) -> Vec<Color> {
        self.dark
            .iter()
            .map(|&d| if d { Color::Dark } else { Color::Light })
            .collect()
    }

    /// The mask penalty: runs of five or more (N1 = 3), 2×2 blocks (N2 = 3),
    /// finder-like 1:1:3:1:1 patterns beside four light modules (N3 = 40), and the
    /// dark share's distance from half (N4 = 10 per 5 %).
    fn penalty(&self) -> u32 {
        match self.width {
            0 => 0,
            w if w <= 128 => self.penalty_by_words(),
            _ => self.penalty_by_modules(),
        }
    }

    /// [`Matrix::penalty`] with each row and column as one 128-bit word (versions up to
    /// 27, every ticket code): each rule is a few shifts and a population count per
    /// line instead of a walk over its modules. Scoring the eight masks this way took
    /// choosing the mask from a quarter of an on-sale's CPU (measured with `perf` on
    /// `loadtest --checkout`) to next to nothing.
    fn penalty_by_words(&self) -> u32 {
        let w = self.width;
        // Bit x of row y is module (x, y); columns are the rows' set bits, transposed.
        let rows: Vec<u128> = self
            .dark
            .chunks(w)
            .map(|row| {
                row.iter()
                    .rev()
                    .fold(0, |acc, &d| (acc << 1) | u128::from(d))
            })
            .collect();
        let mut columns = vec![0u128; w];
        for (y, &row) in rows.iter().enumerate() {
            let mut dark = row;
            while dark != 0 {
                columns[dark.trailing_zeros() as usize] |= 1 << y;
                dark &= dark - 1;
            }
        }
        // The first `n` positions of a line.
        let first = |n: usize| -> u128 {
            match n {
                0 => 0,
                128.. => u128::MAX,
                n => (1 << n) - 1,
            }
        };
        // Bit j: modules j and j + 1 alike.
        let alike = |line: u128| !(line ^ (line >> 1)) & first(w - 1);
        let line_score = |line: u128| -> u32 {
            // N1: a run of L ≥ 5 holds L − 4 windows of five alike modules and scores
            // L − 2: the windows, plus 2 per run (a run's first window).
            let pairs = alike(line);
            let fives = pairs & (pairs >> 1) & (pairs >> 2) & (pairs >> 3);
            let runs = fives & !(fives << 1);
            let n1 = fives.count_ones() + 2 * runs.count_ones();
            // N3: dark-light-dark-dark-dark-light-dark from j, four light modules
            // before it or after it (outside the symbol is light).
            let x = line;
            let at = x & !(x >> 1) & (x >> 2) & (x >> 3) & (x >> 4) & !(x >> 5) & (x >> 6);
            let at = at & first(w.saturating_sub(6));
            let light_before = !((x << 1) | (x << 2) | (x << 3) | (x << 4));
            let light_after = !((x >> 7) | (x >> 8) | (x >> 9) | (x >> 10));
            n1 + 40 * (at & (light_before | light_after)).count_ones()
        };
        let mut score: u32 = rows.iter().chain(&columns).map(|&l| line_score(l)).sum();
        for pair in rows.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            score += 3 * (alike(a) & alike(b) & !(a ^ b)).count_ones();
        }
        let dark: u32 = rows.iter().map(|r| r.count_ones()).sum();
        score + dark_share_penalty(dark as usize, self.dark.len())
    }

    /// [`Matrix::penalty`] module by module: the rules as written, for symbols wider
    /// than a word, and the reference the word version is tested against.
    fn penalty_by_modules(&self) -> u32 {
        let w = self.width;
        if w == 0 {
            return 0;
        }
        // Columns as rows of a transposed copy, so both directions scan slices.
        let mut columns = vec![false; w * w];
        for (y, row) in self.dark.chunks(w).enumerate() {
            for (x, &d) in row.iter().enumerate() {
                columns[x * w + y] = d;
            }
        }
        let mut score: u32 = self
            .dark
            .chunks(w)
            .chain(columns.chunks(w))
            .map(|line| runs(line) + finders(line))
            .sum();
        for pair in self.dark.chunks(w).collect::<Vec<_>>().windows(2) {
            let (a, b) = (pair[0], pair[1]);
            for x in 0..w - 1 {
                let c = a[x];
                if c == a[x + 1] && c == b[x] && c == b[x + 1] {
                    score += 3;
                }
            }
        }
        let dark = self.dark.iter().filter(|&&d| d).count();
        score + dark_share_penalty(dark, self.dark.len())
    }
}

/// N4: 10 for every full 5 % the dark share is away from half.
fn dark_share_penalty(dark: usize, modules: usize) -> u32 {
    let percent = (dark * 100 / modules) as i64;
    ((percent - 50).unsigned_abs() / 5) as u32 * 10
}

/// N1 over one row or column.
fn runs(line: &[bool]) -> u32 {
    let mut score = 0;
    let mut run = 0;
    for (j, &c) in line.iter().enumerate() {
        if j > 0 && c == line[j - 1] {
            run += 1;
        } else {
            if run >= 5 {
                score += 3 + (run - 5);
            }
            run = 1;
        }
    }
    if run >= 5 {
        score += 3 + (run - 5);
    }
    score
}

/// N3 over one row or column (outside the symbol counts as light).
fn finders(line: &[bool]) -> u32 {
    const PATTERN: [bool; 7] = [true, false, true, true, true, false, true];
    let light = |from: isize, to: isize| {
        (from..to).all(|k| k < 0 || k as usize >= line.len() || !line[k as usize])
    };
    let mut score = 0;
    for j in 0..line.len().saturating_sub(6) {
        // Most positions fail on the first two modules.
        if line[j] && !line[j + 1] && line[j..j + 7] == PATTERN {
            let j = j as isize;
            if light(j - 4, j) || light(j + 7, j + 11) {
                score += 40;
            }
        }
    }
    score
}

/// Encodes `payload` (the smallest version that holds it at `ec`) with the mask of
/// least penalty.
pub fn encode(payload: &[u8], ec: EcLevel) -> Result<Matrix> {
    let failed = |e: qrcode::types::QrError| Error::Internal(anyhow::anyhow!("QR code: {e}"));
    let bits = qrcode::bits::encode_auto(payload, ec).map_err(failed)?;
    let version = bits.version();
    let (data, ec_data) =
        qrcode::ec::construct_codewords(&bits.into_bytes(), version, ec).map_err(failed)?;
    let mut canvas = Canvas::new(version, ec);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data, &ec_data);
    let width = usize::try_from(version.width()).unwrap_or(0);
    MASKS
        .iter()
        .map(|&mask| {
            let mut c = canvas.clone();
            c.apply_mask(mask);
            Matrix::of(c, width)
        })
        .min_by_key(Matrix::penalty)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("QR code: no mask")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_the_crates_symbol_under_the_least_penalised_mask() {
        for payload in [
            "hello",
            "eyJhbGciOiJFZERTQSJ9.eyJ0aWQiOiIxIn0.c2ln",
            &"x".repeat(300),
        ] {
            let chosen = encode(payload.as_bytes(), EcLevel::M).unwrap();
            // The same symbol the crate builds, under each of the eight masks.
            let bits = qrcode::bits::encode_auto(payload.as_bytes(), EcLevel::M).unwrap();
            let version = bits.version();
            let (data, ec) =
                qrcode::ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M).unwrap();
            let mut canvas = Canvas::new(version, EcLevel::M);
            canvas.draw_all_functional_patterns();
            canvas.draw_data(&data, &ec);
            let all: Vec<Matrix> = MASKS
                .iter()
                .map(|&m| {
                    let mut c = canvas.clone();
                    c.apply_mask(m);
                    Matrix::of(c, usize::try_from(version.width()).unwrap_or(0))
                })
                .collect();
            assert!(all.contains(&chosen), "{payload}: not a masked symbol");
            let least = all.iter().map(Matrix::penalty).min().unwrap();
            assert_eq!(chosen.penalty(), least);
            // Same version as the crate's own encoder picks.
            let theirs = qrcode::QrCode::with_error_correction_level(payload, EcLevel::M).unwrap();
            assert_eq!(theirs.width(), chosen.width);
        }
    }

    #[test]
    fn penalty_rules() {
        // N1: a run of 7 scores 3 + 2; a run of 4 nothing.
        assert_eq!(runs(&[true; 7]), 5);
        assert_eq!(runs(&[true, true, true, true, false, true]), 0);
        assert_eq!(runs(&[false, true, true, true, true, true]), 3);
        // N3: the finder pattern with four light modules after it, or before it.
        let mut line = vec![true, false, true, true, true, false, true];
        line.extend([false; 4]);
        assert_eq!(finders(&line), 40);
        let mut line = vec![false; 4];
        line.extend([true, false, true, true, true, false, true, true]);
        assert_eq!(finders(&line), 40);
        // Dark on both sides within four modules: not finder-like.
        let line = [
            true, false, true, false, true, true, true, false, true, false, true,
        ];
        assert_eq!(finders(&line), 0);
        // N2 and N4 on a 2×2 all-dark symbol: one block, 100 % dark.
        let m = Matrix {
            width: 2,
            dark: vec![true; 4],
        };
        assert_eq!(m.penalty(), 3 + 100);
    }

    #[test]
    fn both_scorings_agree_on_real_codes() {
        for payload in ["hello", &"t".repeat(150), &"x".repeat(300)] {
            let m = encode(payload.as_bytes(), EcLevel::M).unwrap();
            assert!(m.width <= 128);
            assert_eq!(m.penalty_by_words(), m.penalty_by_modules(), "{payload}");
        }
    }

    proptest::proptest! {
        /// Any symbol up to a word wide, with long runs and finder-like patterns
        /// made likely by drawing modules in stretches.
        #[test]
        fn both_scorings_agree(
            width in 1usize..=128,
            stretches in proptest::collection::vec((proptest::bool::ANY, 1usize..6), 1..600),
        ) {
            let mut dark: Vec<bool> = stretches
                .iter()
                .flat_map(|&(d, n)| std::iter::repeat_n(d, n))
                .cycle()
                .take(width * width)
                .collect();
            dark.resize(width * width, false);
            let m = Matrix { width, dark };
            proptest::prop_assert_eq!(m.penalty_by_words(), m.penalty_by_modules());
        }
    }
}
