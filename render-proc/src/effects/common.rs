//! The config keys every effect has ([C] in engine spec §2.2) and their typed form.
//!
//! They drive the post-processing of `crate::postprocess`. An effect may override one of
//! them (Energy's `blur` default 4 and `mirror` true) by listing a field with the same key in
//! its own table; the registry then leaves the common one out.

use serde::Deserialize;

use crate::color::Rgb;
use crate::schema::Field;

/// Shared with effects that override the common key's default.
pub const BLUR: &str = "How much to blur neighbouring pixels together";
/// Shared with effects that override the common key's default.
pub const MIRROR: &str = "Mirror the effect around the centre of the strip";

/// The common keys in LedFx's order.
pub const COMMON: &[Field] = &[
    Field::float("blur", 0.0, 0.0, 10.0).describe(BLUR),
    Field::bool("flip", false).describe("Reverse the direction of the effect"),
    Field::bool("mirror", false).describe(MIRROR),
    Field::float("brightness", 1.0, 0.0, 1.0).describe("Brightness of the whole effect"),
    Field::color("background_color", "#000000").describe("Colour shown behind the effect"),
    Field::float("background_brightness", 1.0, 0.0, 1.0)
        .describe("Brightness of the background colour"),
    Field::bool("diag", false).describe("Log diagnostic timing for this effect"),
    Field::optional_bool("advanced").describe("Show the advanced settings"),
];

/// Typed common keys, decoded from a validated config (so no serde defaults are needed).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CommonConfig {
    /// σ of the Gaussian blur in pixels (0 = off).
    pub blur: f64,
    /// Reverse the pixel order.
    pub flip: bool,
    /// Mirror around the centre (the effect's first pixel ends up in the middle).
    pub mirror: bool,
    /// Multiplier of the whole frame, background included.
    pub brightness: f64,
    /// Added to every pixel when not black.
    pub background_color: Rgb,
    /// Multiplier of the background colour.
    pub background_brightness: f64,
    /// LedFx's per-second timing log switch; accepted and kept, not acted on.
    pub diag: bool,
}

impl Default for CommonConfig {
    fn default() -> Self {
        Self {
            blur: 0.0,
            flip: false,
            mirror: false,
            brightness: 1.0,
            background_color: Rgb::BLACK,
            background_brightness: 1.0,
            diag: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::validate_fields;

    #[test]
    fn validated_defaults_decode_to_the_default_struct() {
        let validated = validate_fields(COMMON.iter(), &serde_json::Value::Null).unwrap();
        let decoded = CommonConfig::deserialize(&serde_json::Value::Object(validated)).unwrap();
        assert_eq!(decoded, CommonConfig::default());
    }
}
