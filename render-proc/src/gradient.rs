//! Gradient strings: LedFx's built-in named gradients and the check that a string is a
//! gradient LedFx would accept (`linear-gradient(…)` / `radial-gradient(…)` with colour stops,
//! ledfx-engine.md §2.5). Sampling, roll, repeat and mirror come with the gradient effects.

use crate::color::{parse_color, Rgb};

/// LedFx 2.2.1's built-in gradients, in its order (what `/api/colors` lists as `builtin`).
pub const LEDFX_GRADIENTS: &[(&str, &str)] = &[
    ("Rainbow", "linear-gradient(90deg, rgb(255, 0, 0) 0%, rgb(255, 120, 0) 14%, rgb(255, 200, 0) 28%, rgb(0, 255, 0) 42%, rgb(0, 199, 140) 56%, rgb(0, 0, 255) 70%, rgb(128, 0, 128) 84%, rgb(255, 0, 178) 98%)"),
    ("Dancefloor", "linear-gradient(90deg, rgb(255, 0, 0) 0%, rgb(255, 0, 178) 50%, rgb(0, 0, 255) 100%)"),
    ("Plasma", "linear-gradient(90deg, rgb(0, 0, 255) 0%, rgb(128, 0, 128) 25%, rgb(255, 0, 0) 50%, rgb(255, 40, 0) 75%, rgb(255, 200, 0) 100%)"),
    ("Ocean", "linear-gradient(90deg, rgb(0, 255, 255) 0%, rgb(0, 0, 255) 100%)"),
    ("Viridis", "linear-gradient(90deg, rgb(128, 0, 128) 0%, rgb(0, 0, 255) 25%, rgb(0, 128, 128) 50%, rgb(0, 255, 0) 75%, rgb(255, 200, 0) 100%)"),
    ("Jungle", "linear-gradient(90deg, rgb(0, 255, 0) 0%, rgb(34, 139, 34) 50%, rgb(255, 120, 0) 100%)"),
    ("Spring", "linear-gradient(90deg, rgb(255, 0, 178) 0%, rgb(255, 40, 0) 50%, rgb(255, 200, 0) 100%)"),
    ("Winter", "linear-gradient(90deg, rgb(0, 199, 140) 0%, rgb(0, 255, 50) 100%)"),
    ("Frost", "linear-gradient(90deg, rgb(0, 0, 255) 0%, rgb(0, 255, 255) 33%, rgb(128, 0, 128) 66%, rgb(255, 0, 178) 99%)"),
    ("Sunset", "linear-gradient(90deg, rgb(0, 0, 128) 0%, rgb(255, 120, 0) 50%, rgb(255, 0, 0) 100%)"),
    ("Borealis", "linear-gradient(90deg, rgb(255, 40, 0) 0%, rgb(128, 0, 128) 33%, rgb(0, 199, 140) 66%, rgb(0, 255, 0) 99%)"),
    ("Rust", "linear-gradient(90deg, rgb(255, 40, 0) 0%, rgb(255, 0, 0) 100%)"),
    ("Winamp", "linear-gradient(90deg, rgb(0, 255, 0) 0%, rgb(255, 200, 0) 25%, rgb(255, 120, 0) 50%, rgb(255, 40, 0) 75%, rgb(255, 0, 0) 100%)"),
];

/// One colour stop: the colour and its position in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stop {
    pub color: Rgb,
    pub position: f64,
}

/// Splits at the commas outside parentheses.
fn top_level_parts(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(s[start..].trim());
    parts
}

/// The colour stops of a gradient string, or why it is not one. A stop without a position
/// is spread evenly, as CSS does.
pub fn parse_gradient(s: &str) -> Result<Vec<Stop>, String> {
    // The reason only: callers say which string and where it came from.
    let invalid = |why: &str| why.to_owned();
    let trimmed = s.trim();
    let inner = ["linear-gradient(", "radial-gradient("]
        .iter()
        .find_map(|prefix| trimmed.strip_prefix(prefix))
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| invalid("expected linear-gradient(…) or radial-gradient(…)"))?;
    let mut parts = top_level_parts(inner);
    // A leading angle or shape (`90deg`, `circle`) is not a stop.
    if parts
        .first()
        .is_some_and(|p| parse_color(p).is_err() && !p.contains('('))
    {
        parts.remove(0);
    }
    if parts.is_empty() {
        return Err(invalid("no colour stops"));
    }
    let count = parts.len();
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let (color, position) = match part.rsplit_once(' ') {
                Some((c, p)) if p.ends_with('%') => {
                    let pct: f64 = p
                        .trim_end_matches('%')
                        .parse()
                        .map_err(|_| invalid(&format!("bad position {p:?}")))?;
                    (c.trim(), pct / 100.0)
                }
                _ => (
                    *part,
                    if count == 1 {
                        0.0
                    } else {
                        i as f64 / (count - 1) as f64
                    },
                ),
            };
            let color =
                parse_color(color).map_err(|_| invalid(&format!("bad colour {color:?}")))?;
            Ok(Stop { color, position })
        })
        .collect()
}

/// Whether `s` is a built-in gradient's name or a gradient string.
pub fn is_gradient(s: &str) -> bool {
    LEDFX_GRADIENTS.iter().any(|(name, _)| *name == s) || parse_gradient(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_gradient_parses_to_its_stops() {
        for (name, text) in LEDFX_GRADIENTS {
            let stops = parse_gradient(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(stops.len() >= 2, "{name}");
        }
        let dancefloor = parse_gradient(LEDFX_GRADIENTS[1].1).unwrap();
        assert_eq!(
            dancefloor,
            [
                Stop {
                    color: Rgb([255, 0, 0]),
                    position: 0.0
                },
                Stop {
                    color: Rgb([255, 0, 178]),
                    position: 0.5
                },
                Stop {
                    color: Rgb([0, 0, 255]),
                    position: 1.0
                },
            ]
        );
    }

    #[test]
    fn strings_that_are_not_gradients_are_refused_with_the_reason() {
        assert!(parse_gradient("#ff0000")
            .unwrap_err()
            .contains("expected linear-gradient"));
        assert!(parse_gradient("linear-gradient(90deg, nocolour 0%)")
            .unwrap_err()
            .contains("bad colour \"nocolour\""));
        assert!(parse_gradient("linear-gradient(90deg)")
            .unwrap_err()
            .contains("no colour stops"));
        assert!(is_gradient("Rainbow"));
        assert!(is_gradient("linear-gradient(red, blue)"));
        assert!(!is_gradient("rainbowish"));
    }
}
