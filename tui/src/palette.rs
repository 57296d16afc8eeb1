//! A colour of their own for each person, derived from the name, as weechat and
//! senpai do: the same name always gets the same colour, in every session.
//!
//! The palette is twelve colours of the xterm 256-colour cube with medium
//! luminance, so each reads on dark and on light backgrounds alike (the test checks
//! the contrast with black and with white). The name is hashed with 32-bit FNV-1a,
//! which is stable across runs and platforms (unlike the standard library's hasher).

use ratatui::style::Color;

/// xterm 256-colour indices: blue, teal, green, olive, orange-brown, orange,
/// red-pink, magenta, purple, indigo, steel blue, orchid.
const PALETTE: [u8; 12] = [32, 37, 35, 64, 130, 166, 161, 125, 97, 62, 31, 133];

/// The colour of `name`.
pub fn name_color(name: &str) -> Color {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    Color::Indexed(PALETTE[hash as usize % PALETTE.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RGB of an index of the xterm 6x6x6 cube.
    fn rgb(index: u8) -> [f64; 3] {
        const LEVELS: [f64; 6] = [0.0, 95.0, 135.0, 175.0, 215.0, 255.0];
        let i = usize::from(index - 16);
        [LEVELS[i / 36], LEVELS[(i / 6) % 6], LEVELS[i % 6]]
    }

    /// WCAG relative luminance.
    fn luminance(index: u8) -> f64 {
        let lin = |c: f64| {
            let c = c / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = rgb(index);
        0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    }

    #[test]
    fn every_colour_reads_on_dark_and_light_backgrounds() {
        for index in PALETTE {
            let l = luminance(index);
            let on_black = (l + 0.05) / 0.05;
            let on_white = 1.05 / (l + 0.05);
            assert!(
                on_black >= 2.5 && on_white >= 2.5,
                "{index}: {on_black:.1} {on_white:.1}"
            );
        }
    }

    #[test]
    fn a_name_keeps_its_colour_and_names_spread_over_the_palette() {
        assert_eq!(name_color("henderson"), name_color("henderson"));
        assert_eq!(name_color("lineker"), Color::Indexed(name_index("lineker")));
        let names = [
            "henderson",
            "lineker",
            "arini",
            "budi",
            "citra",
            "dewi",
            "eko",
            "fajar",
        ];
        let mut seen: Vec<Color> = names.iter().map(|n| name_color(n)).collect();
        seen.sort_by_key(|c| format!("{c:?}"));
        seen.dedup();
        assert!(seen.len() >= 5, "{seen:?}");
    }

    fn name_index(name: &str) -> u8 {
        match name_color(name) {
            Color::Indexed(i) => i,
            other => panic!("{other:?}"),
        }
    }
}
