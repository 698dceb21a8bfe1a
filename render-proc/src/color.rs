//! Colour parsing and normalisation, as LedFx's `parse_color` does it (engine spec §2.4).
//!
//! Effect configs name colours in several ways and LedFx stores every validated colour as a
//! lower-case `#rrggbb` string, so the supervisor (validation) and this stage (rendering) must
//! agree exactly on what a string means. The lookup order matters and is LedFx's:
//!
//! 1. LedFx's own colour names, exact and case-sensitive (they differ from CSS: `orange` is
//!    `#ff7800` here, `#ffa500` in CSS);
//! 2. `#` followed by hex digits, read as *one integer* written into three big-endian bytes
//!    (so `#fff` is `(0, 15, 255)`, not CSS shorthand, and more than six digits that do not fit
//!    in three bytes are rejected);
//! 3. what Pillow's `ImageColor.getrgb` understands, lower-cased: CSS/X11 names,
//!    `rgb(r,g,b)`, `rgb(r%,g%,b%)`, `hsl(h,s%,l%)` and `hsv(h,s%,v%)`/`hsb(…)`.
//!
//! A three-element JSON list of integers `[r, g, b]` is accepted too.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An 8-bit RGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rgb(pub [u8; 3]);

impl Rgb {
    /// Black, LedFx's "no background".
    pub const BLACK: Rgb = Rgb([0, 0, 0]);

    /// The normalised form LedFx stores: lower-case `#rrggbb`.
    pub fn to_hex(self) -> String {
        let [r, g, b] = self.0;
        format!("#{r:02x}{g:02x}{b:02x}")
    }

    /// The colour as float channels 0..255, the unit frames are computed in.
    pub fn to_pixel(self) -> [f64; 3] {
        self.0.map(f64::from)
    }
}

/// Errors parsing a colour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColorError {
    /// The value is not a colour LedFx would accept; carries the value as JSON text.
    #[error("invalid color {0}")]
    ParseColor(String),
}

/// LedFx's built-in colour names (what `/api/colors` lists as `builtin`).
pub const LEDFX_COLORS: &[(&str, &str)] = &[
    ("red", "#ff0000"),
    ("orange-deep", "#ff2800"),
    ("orange", "#ff7800"),
    ("yellow", "#ffc800"),
    ("yellow-acid", "#a0ff00"),
    ("green", "#00ff00"),
    ("green-forest", "#228b22"),
    ("green-spring", "#00ff7f"),
    ("green-teal", "#008080"),
    ("green-turquoise", "#00c78c"),
    ("green-coral", "#00ff32"),
    ("cyan", "#00ffff"),
    ("blue", "#0000ff"),
    ("blue-light", "#4169e1"),
    ("blue-navy", "#000080"),
    ("blue-aqua", "#00ffff"),
    ("purple", "#800080"),
    ("pink", "#ff00b2"),
    ("magenta", "#ff00ff"),
    ("black", "#000000"),
    ("white", "#ffffff"),
    ("gold", "#ffd700"),
    ("hotpink", "#ff69b4"),
    ("lightblue", "#add8e6"),
    ("lightgreen", "#98fb98"),
    ("lightpink", "#ffb6c1"),
    ("lightyellow", "#ffffe0"),
    ("maroon", "#800000"),
    ("mint", "#bdfcc9"),
    ("olive", "#556b2f"),
    ("peach", "#ff6464"),
    ("plum", "#dda0dd"),
    ("sepia", "#5e2612"),
    ("skyblue", "#87ceeb"),
    ("steelblue", "#4682b4"),
    ("tan", "#d2b48c"),
    ("violetred", "#d02090"),
];

/// CSS/X11 colour names as Pillow knows them (consulted after the LedFx table).
const CSS_COLORS: &[(&str, u32)] = &[
    ("aliceblue", 0xf0f8ff),
    ("antiquewhite", 0xfaebd7),
    ("aqua", 0x00ffff),
    ("aquamarine", 0x7fffd4),
    ("azure", 0xf0ffff),
    ("beige", 0xf5f5dc),
    ("bisque", 0xffe4c4),
    ("black", 0x000000),
    ("blanchedalmond", 0xffebcd),
    ("blue", 0x0000ff),
    ("blueviolet", 0x8a2be2),
    ("brown", 0xa52a2a),
    ("burlywood", 0xdeb887),
    ("cadetblue", 0x5f9ea0),
    ("chartreuse", 0x7fff00),
    ("chocolate", 0xd2691e),
    ("coral", 0xff7f50),
    ("cornflowerblue", 0x6495ed),
    ("cornsilk", 0xfff8dc),
    ("crimson", 0xdc143c),
    ("cyan", 0x00ffff),
    ("darkblue", 0x00008b),
    ("darkcyan", 0x008b8b),
    ("darkgoldenrod", 0xb8860b),
    ("darkgray", 0xa9a9a9),
    ("darkgrey", 0xa9a9a9),
    ("darkgreen", 0x006400),
    ("darkkhaki", 0xbdb76b),
    ("darkmagenta", 0x8b008b),
    ("darkolivegreen", 0x556b2f),
    ("darkorange", 0xff8c00),
    ("darkorchid", 0x9932cc),
    ("darkred", 0x8b0000),
    ("darksalmon", 0xe9967a),
    ("darkseagreen", 0x8fbc8f),
    ("darkslateblue", 0x483d8b),
    ("darkslategray", 0x2f4f4f),
    ("darkslategrey", 0x2f4f4f),
    ("darkturquoise", 0x00ced1),
    ("darkviolet", 0x9400d3),
    ("deeppink", 0xff1493),
    ("deepskyblue", 0x00bfff),
    ("dimgray", 0x696969),
    ("dimgrey", 0x696969),
    ("dodgerblue", 0x1e90ff),
    ("firebrick", 0xb22222),
    ("floralwhite", 0xfffaf0),
    ("forestgreen", 0x228b22),
    ("fuchsia", 0xff00ff),
    ("gainsboro", 0xdcdcdc),
    ("ghostwhite", 0xf8f8ff),
    ("gold", 0xffd700),
    ("goldenrod", 0xdaa520),
    ("gray", 0x808080),
    ("grey", 0x808080),
    ("green", 0x008000),
    ("greenyellow", 0xadff2f),
    ("honeydew", 0xf0fff0),
    ("hotpink", 0xff69b4),
    ("indianred", 0xcd5c5c),
    ("indigo", 0x4b0082),
    ("ivory", 0xfffff0),
    ("khaki", 0xf0e68c),
    ("lavender", 0xe6e6fa),
    ("lavenderblush", 0xfff0f5),
    ("lawngreen", 0x7cfc00),
    ("lemonchiffon", 0xfffacd),
    ("lightblue", 0xadd8e6),
    ("lightcoral", 0xf08080),
    ("lightcyan", 0xe0ffff),
    ("lightgoldenrodyellow", 0xfafad2),
    ("lightgreen", 0x90ee90),
    ("lightgray", 0xd3d3d3),
    ("lightgrey", 0xd3d3d3),
    ("lightpink", 0xffb6c1),
    ("lightsalmon", 0xffa07a),
    ("lightseagreen", 0x20b2aa),
    ("lightskyblue", 0x87cefa),
    ("lightslategray", 0x778899),
    ("lightslategrey", 0x778899),
    ("lightsteelblue", 0xb0c4de),
    ("lightyellow", 0xffffe0),
    ("lime", 0x00ff00),
    ("limegreen", 0x32cd32),
    ("linen", 0xfaf0e6),
    ("magenta", 0xff00ff),
    ("maroon", 0x800000),
    ("mediumaquamarine", 0x66cdaa),
    ("mediumblue", 0x0000cd),
    ("mediumorchid", 0xba55d3),
    ("mediumpurple", 0x9370db),
    ("mediumseagreen", 0x3cb371),
    ("mediumslateblue", 0x7b68ee),
    ("mediumspringgreen", 0x00fa9a),
    ("mediumturquoise", 0x48d1cc),
    ("mediumvioletred", 0xc71585),
    ("midnightblue", 0x191970),
    ("mintcream", 0xf5fffa),
    ("mistyrose", 0xffe4e1),
    ("moccasin", 0xffe4b5),
    ("navajowhite", 0xffdead),
    ("navy", 0x000080),
    ("oldlace", 0xfdf5e6),
    ("olive", 0x808000),
    ("olivedrab", 0x6b8e23),
    ("orange", 0xffa500),
    ("orangered", 0xff4500),
    ("orchid", 0xda70d6),
    ("palegoldenrod", 0xeee8aa),
    ("palegreen", 0x98fb98),
    ("paleturquoise", 0xafeeee),
    ("palevioletred", 0xdb7093),
    ("papayawhip", 0xffefd5),
    ("peachpuff", 0xffdab9),
    ("peru", 0xcd853f),
    ("pink", 0xffc0cb),
    ("plum", 0xdda0dd),
    ("powderblue", 0xb0e0e6),
    ("purple", 0x800080),
    ("rebeccapurple", 0x663399),
    ("red", 0xff0000),
    ("rosybrown", 0xbc8f8f),
    ("royalblue", 0x4169e1),
    ("saddlebrown", 0x8b4513),
    ("salmon", 0xfa8072),
    ("sandybrown", 0xf4a460),
    ("seagreen", 0x2e8b57),
    ("seashell", 0xfff5ee),
    ("sienna", 0xa0522d),
    ("silver", 0xc0c0c0),
    ("skyblue", 0x87ceeb),
    ("slateblue", 0x6a5acd),
    ("slategray", 0x708090),
    ("slategrey", 0x708090),
    ("snow", 0xfffafa),
    ("springgreen", 0x00ff7f),
    ("steelblue", 0x4682b4),
    ("tan", 0xd2b48c),
    ("teal", 0x008080),
    ("thistle", 0xd8bfd8),
    ("tomato", 0xff6347),
    ("turquoise", 0x40e0d0),
    ("violet", 0xee82ee),
    ("wheat", 0xf5deb3),
    ("white", 0xffffff),
    ("whitesmoke", 0xf5f5f5),
    ("yellow", 0xffff00),
    ("yellowgreen", 0x9acd32),
];

fn from_u24(v: u32) -> Rgb {
    let [_, r, g, b] = v.to_be_bytes();
    Rgb([r, g, b])
}

/// Parses a colour given as a JSON value (string or `[r, g, b]` list).
pub fn parse_color_value(value: &Value) -> Result<Rgb, ColorError> {
    let invalid = || ColorError::ParseColor(value.to_string());
    match value {
        Value::String(s) => parse_color(s).map_err(|_| invalid()),
        Value::Array(items) if items.len() == 3 => {
            let mut rgb = [0u8; 3];
            for (out, item) in rgb.iter_mut().zip(items) {
                *out = item
                    .as_u64()
                    .and_then(|v| u8::try_from(v).ok())
                    .ok_or_else(invalid)?;
            }
            Ok(Rgb(rgb))
        }
        _ => Err(invalid()),
    }
}

/// Parses a colour string the way LedFx does (see the module header for the order).
pub fn parse_color(s: &str) -> Result<Rgb, ColorError> {
    let invalid = || ColorError::ParseColor(Value::String(s.to_owned()).to_string());
    if let Some((_, hex)) = LEDFX_COLORS.iter().find(|(name, _)| *name == s) {
        return parse_hex_integer(&hex[1..]).ok_or_else(invalid);
    }
    if let Some(hex) = s.strip_prefix('#') {
        return parse_hex_integer(hex).ok_or_else(invalid);
    }
    parse_pillow(&s.to_ascii_lowercase()).ok_or_else(invalid)
}

/// LedFx's `#` rule: the digits are one integer that must fit into three bytes.
fn parse_hex_integer(hex: &str) -> Option<Rgb> {
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digits = hex.trim_start_matches('0');
    if digits.len() > 6 {
        return None;
    }
    let value = u32::from_str_radix(if digits.is_empty() { "0" } else { digits }, 16).ok()?;
    Some(from_u24(value))
}

/// The subset of Pillow's `ImageColor.getrgb` that can reach it (input already lower-cased).
fn parse_pillow(s: &str) -> Option<Rgb> {
    if let Some((_, v)) = CSS_COLORS.iter().find(|(name, _)| *name == s) {
        return Some(from_u24(*v));
    }
    if let Some(args) = function_args(s, "rgb") {
        if args.iter().all(|a| a.ends_with('%')) {
            let mut rgb = [0u8; 3];
            for (out, a) in rgb.iter_mut().zip(&args) {
                let p = parse_decimal(a.trim_end_matches('%'))?;
                *out = unit_to_byte(p / 100.0)?;
            }
            return Some(Rgb(rgb));
        }
        let mut rgb = [0u8; 3];
        for (out, a) in rgb.iter_mut().zip(&args) {
            if !a.bytes().all(|b| b.is_ascii_digit()) || a.is_empty() {
                return None;
            }
            *out = a.parse().ok()?;
        }
        return Some(Rgb(rgb));
    }
    let (hsx, args) = if let Some(a) = function_args(s, "hsl") {
        ("hsl", a)
    } else if let Some(a) = function_args(s, "hsv").or_else(|| function_args(s, "hsb")) {
        ("hsv", a)
    } else {
        return None;
    };
    let h = parse_decimal(args[0])? / 360.0;
    let second = parse_decimal(args[1].strip_suffix('%')?)? / 100.0;
    let third = parse_decimal(args[2].strip_suffix('%')?)? / 100.0;
    let rgb = if hsx == "hsl" {
        hls_to_rgb(h, third, second)
    } else {
        hsv_to_rgb(h, second, third)
    };
    let mut out = [0u8; 3];
    for (o, v) in out.iter_mut().zip(rgb) {
        *o = unit_to_byte(v)?;
    }
    Some(Rgb(out))
}

/// `name( a , b , c )` → the three trimmed arguments.
fn function_args<'a>(s: &'a str, name: &str) -> Option<[&'a str; 3]> {
    let inner = s.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')')?;
    let mut parts = inner.split(',').map(str::trim);
    let args = [parts.next()?, parts.next()?, parts.next()?];
    if parts.next().is_some() {
        return None;
    }
    Some(args)
}

/// A non-negative decimal without exponent (`12`, `12.5`, `.5`), as Pillow's patterns allow.
fn parse_decimal(s: &str) -> Option<f64> {
    let ok = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|&b| b == b'.').count() <= 1
        && s != ".";
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

/// Pillow's rounding of a 0..1 channel to a byte (`int(x·255 + 0.5)`), out of range rejected.
fn unit_to_byte(v: f64) -> Option<u8> {
    let b = (v * 255.0 + 0.5).floor();
    (0.0..=255.0).contains(&b).then_some(b as u8)
}

/// Python `colorsys.hsv_to_rgb`: all arguments and results in 0..1, hue taken mod 1.
pub fn hsv_to_rgb(h: f64, s: f64, v: f64) -> [f64; 3] {
    if s == 0.0 {
        return [v, v, v];
    }
    let h = h.rem_euclid(1.0);
    let sector = (h * 6.0).floor();
    let f = h * 6.0 - sector;
    let p = v * (1.0 - s);
    let q = v * (1.0 - s * f);
    let t = v * (1.0 - s * (1.0 - f));
    match sector as u8 % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// Python `colorsys.hls_to_rgb`.
fn hls_to_rgb(h: f64, l: f64, s: f64) -> [f64; 3] {
    if s == 0.0 {
        return [l, l, l];
    }
    let m2 = if l <= 0.5 {
        l * (1.0 + s)
    } else {
        l + s - l * s
    };
    let m1 = 2.0 * l - m2;
    let channel = |hue: f64| {
        let hue = hue.rem_euclid(1.0);
        if hue < 1.0 / 6.0 {
            m1 + (m2 - m1) * hue * 6.0
        } else if hue < 0.5 {
            m2
        } else if hue < 2.0 / 3.0 {
            m1 + (m2 - m1) * (2.0 / 3.0 - hue) * 6.0
        } else {
            m1
        }
    };
    [channel(h + 1.0 / 3.0), channel(h), channel(h - 1.0 / 3.0)]
}

impl<'de> Deserialize<'de> for Rgb {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        parse_color_value(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> String {
        parse_color(s)
            .map(Rgb::to_hex)
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn ledfx_names_win_over_css_names() {
        assert_eq!(hex("orange"), "#ff7800");
        assert_eq!(hex("pink"), "#ff00b2");
        assert_eq!(hex("olive"), "#556b2f");
        // Case-sensitive LedFx lookup; Pillow lower-cases, so "Orange" is CSS orange.
        assert_eq!(hex("Orange"), "#ffa500");
        assert_eq!(hex("chocolate"), "#d2691e");
    }

    #[test]
    fn hex_digits_are_one_big_endian_integer() {
        assert_eq!(hex("#FF0000"), "#ff0000");
        assert_eq!(parse_color("#fff"), Ok(Rgb([0, 15, 255])));
        assert_eq!(parse_color("#000000ff"), Ok(Rgb([0, 0, 255])));
        assert!(parse_color("#ff0000aa").is_err());
        assert!(parse_color("#").is_err());
        assert!(parse_color("#xyz").is_err());
    }

    #[test]
    fn css_functions_parse() {
        assert_eq!(parse_color("rgb(10, 20,30)"), Ok(Rgb([10, 20, 30])));
        assert_eq!(parse_color("RGB(10,20,30)"), Ok(Rgb([10, 20, 30])));
        assert_eq!(parse_color("rgb(100%,50%,0%)"), Ok(Rgb([255, 128, 0])));
        assert_eq!(parse_color("hsl(120,100%,50%)"), Ok(Rgb([0, 255, 0])));
        assert_eq!(parse_color("hsv(240,100%,100%)"), Ok(Rgb([0, 0, 255])));
        assert!(parse_color("rgb(300,0,0)").is_err());
        assert!(parse_color("rgb(1,2)").is_err());
        assert!(parse_color("rgba(1,2,3,4)").is_err());
    }

    #[test]
    fn invalid_colours_name_the_value() {
        assert_eq!(
            parse_color("nope").unwrap_err().to_string(),
            r#"invalid color "nope""#
        );
        assert_eq!(
            parse_color_value(&serde_json::json!(5))
                .unwrap_err()
                .to_string(),
            "invalid color 5"
        );
    }

    #[test]
    fn lists_of_three_bytes_are_colours() {
        assert_eq!(
            parse_color_value(&serde_json::json!([1, 2, 255])),
            Ok(Rgb([1, 2, 255]))
        );
        assert!(parse_color_value(&serde_json::json!([1, 2, 256])).is_err());
        assert!(parse_color_value(&serde_json::json!([1.5, 2, 3])).is_err());
    }

    #[test]
    fn hsv_golden_vectors() {
        // Engine spec §9.6 (s 0.95, v 1, ×255).
        let px = |h: f64| hsv_to_rgb(h, 0.95, 1.0).map(|c| c * 255.0);
        let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9);
        assert!(close(px(0.0), [255.0, 12.75, 12.75]));
        assert!(close(px(1.0 / 6.0), [255.0, 255.0, 12.75]));
        assert!(close(px(0.5), [12.75, 255.0, 255.0]));
        assert!(close(px(0.95), [255.0, 12.75, 85.425]));
        assert!(close(px(1.95), px(0.95)));
    }
}
