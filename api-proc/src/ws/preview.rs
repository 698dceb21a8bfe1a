//! What a `visualisation_update` carries (ledfx-api.md §4.7): the frame's shape from the
//! virtual's `rows`, shrunk to `visualisation_maxlen` pixels as LedFx shrinks it, brightened
//! by `ui_brightness_boost`, and encoded in the `transmission_mode`.

use base64::Engine as _;
use serde_json::{json, Value};

use super::resample::resize;

/// The core config keys the preview reads.
pub const SETTINGS_KEYS: [&str; 4] = [
    "visualisation_fps",
    "visualisation_maxlen",
    "ui_brightness_boost",
    "transmission_mode",
];

/// The preview settings of the core config.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewSettings {
    pub fps: u32,
    pub max_len: usize,
    pub boost: f64,
    /// `compressed` (base64 of RGB bytes) rather than `uncompressed` (three channel lists).
    pub compressed: bool,
}

impl Default for PreviewSettings {
    fn default() -> Self {
        Self {
            fps: 30,
            max_len: 81,
            boost: 0.0,
            compressed: true,
        }
    }
}

impl PreviewSettings {
    /// The settings from config values (missing or invalid ones take LedFx's defaults).
    pub fn from_config(config: &serde_json::Map<String, Value>) -> Self {
        let default = Self::default();
        let int = |key: &str, min: u64, max: u64| {
            config
                .get(key)
                .and_then(Value::as_u64)
                .filter(|v| (min..=max).contains(v))
        };
        Self {
            fps: int("visualisation_fps", 1, 60).map_or(default.fps, |v| v as u32),
            max_len: int("visualisation_maxlen", 5, 65_536).map_or(default.max_len, |v| v as usize),
            boost: config
                .get("ui_brightness_boost")
                .and_then(Value::as_f64)
                .filter(|b| (0.0..=1.0).contains(b))
                .unwrap_or(default.boost),
            compressed: config.get("transmission_mode").and_then(Value::as_str)
                != Some("uncompressed"),
        }
    }
}

/// LedFx's `shape_to_fit_len`: the shape a frame of `shape` is shrunk to, and how many of
/// its pixels take part (a 2-D frame drops the pixels past `rows × cols`).
pub fn fit_shape(
    max_len: usize,
    (rows, cols): (usize, usize),
    pixels: usize,
) -> ((usize, usize), usize) {
    if rows <= 1 {
        return ((1, max_len), pixels);
    }
    let pixels = rows * cols;
    let ratio = (pixels as f64 / max_len as f64).sqrt();
    let (mut new_rows, mut new_cols) = (rows as f64 / ratio, cols as f64 / ratio);
    if new_rows > 64.0 {
        new_cols *= 64.0 / new_rows;
        new_rows = 64.0;
    } else if new_cols > 64.0 {
        new_rows *= 64.0 / new_cols;
        new_cols = 64.0;
    }
    // LedFx keeps the other dimension unfloored here, which Pillow would refuse; floored.
    let shape = (new_rows.max(1.0) as usize, new_cols.max(1.0) as usize);
    (shape, pixels)
}

/// LedFx's `pixels_boost` for one channel value.
fn boosted(v: u8, boost: f64) -> u8 {
    if v <= 1 {
        return v;
    }
    let floor = 100.0 * boost;
    let v = f64::from(v);
    let compressed = floor + (v.ln_1p() / 256f64.ln()) * (255.0 - floor);
    ((1.0 - boost) * v + boost * compressed) as u8
}

/// The event fields for one frame of RGB bytes (`pixels` × 3) of an id with `rows` rows.
pub fn event_fields(
    is_device: bool,
    vis_id: &str,
    frame: &[u8],
    rows: usize,
    settings: &PreviewSettings,
) -> Value {
    let rows = rows.max(1);
    let n = frame.len() / 3;
    let mut shape = (rows, n / rows);
    let mut pixels = frame[..n * 3].to_vec();
    if n > settings.max_len {
        let (new_shape, used) = fit_shape(settings.max_len, shape, n);
        // A 1-D frame is one row of all its pixels.
        let from = if rows <= 1 { (1, used) } else { shape };
        pixels = resize(&pixels[..used * 3], from, new_shape);
        shape = new_shape;
    }
    if settings.boost != 0.0 {
        for v in &mut pixels {
            *v = boosted(*v, settings.boost);
        }
    }
    let encoded = if settings.compressed {
        Value::from(base64::engine::general_purpose::STANDARD.encode(&pixels))
    } else {
        let channel = |c: usize| -> Vec<u8> { pixels.iter().skip(c).step_by(3).copied().collect() };
        json!([channel(0), channel(1), channel(2)])
    };
    json!({"is_device": is_device, "vis_id": vis_id, "pixels": encoded, "shape": [shape.0, shape.1]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/ledfx-2.2.1/visualisation.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// A list of channel values (recorded as integers or floats) as bytes.
    fn bytes(list: &Value) -> Vec<u8> {
        let values = list.as_array().unwrap();
        values.iter().map(|v| v.as_f64().unwrap() as u8).collect()
    }

    /// The inputs the fixture was recorded with.
    fn input(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| (0..3).map(move |c| ((i * 37 + c * 101 + (i * i) % 13) % 256) as u8))
            .collect()
    }

    #[test]
    fn frames_shrink_to_ledfxs_shapes_and_pixels() {
        for case in fixture()["resize"].as_array().unwrap() {
            let (rows, n, max_len) = (
                case["rows"].as_u64().unwrap() as usize,
                case["pixels"].as_u64().unwrap() as usize,
                case["maxlen"].as_u64().unwrap() as usize,
            );
            let settings = PreviewSettings {
                max_len,
                ..PreviewSettings::default()
            };
            let fields = event_fields(false, "v", &input(n), rows, &settings);
            assert_eq!(fields["shape"], case["shape"], "{rows} rows, {n} px");
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(fields["pixels"].as_str().unwrap())
                .unwrap();
            assert_eq!(decoded, bytes(&case["out"]), "{rows} rows, {n} px");
        }
    }

    #[test]
    fn the_brightness_boost_is_ledfxs() {
        for case in fixture()["boost"].as_array().unwrap() {
            let boost = case["boost"].as_f64().unwrap();
            let got: Vec<u8> = bytes(&case["in"])
                .into_iter()
                .map(|v| boosted(v, boost))
                .collect();
            assert_eq!(got, bytes(&case["out"]), "boost {boost}");
        }
    }

    #[test]
    fn small_frames_pass_unchanged_in_both_transmission_modes() {
        let frame = [1, 2, 3, 4, 5, 6];
        let compressed = event_fields(true, "porch", &frame, 1, &PreviewSettings::default());
        assert_eq!(
            compressed,
            json!({"is_device": true, "vis_id": "porch", "pixels": "AQIDBAUG", "shape": [1, 2]})
        );
        let settings = PreviewSettings {
            compressed: false,
            ..PreviewSettings::default()
        };
        assert_eq!(
            event_fields(true, "porch", &frame, 1, &settings)["pixels"],
            json!([[1, 4], [2, 5], [3, 6]])
        );
    }
}
