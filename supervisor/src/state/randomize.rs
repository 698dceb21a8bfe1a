//! `"RANDOMIZE"` as an effect config (ledfx-api.md §3.12): a random value for every
//! switch, choice and bounded number of the effect, except the keys the caller keeps.

use rand::Rng;
use render_proc::schema::FieldKind;
use serde_json::{json, Map, Value};

/// Keys `POST .../effects` never randomises.
pub const KEEP_ON_SET: &[&str] = &["brightness", "background_color", "background_brightness"];
/// Keys `PUT .../effects` never randomises.
pub const KEEP_ON_UPDATE: &[&str] = &["brightness"];

/// A random config for `effect_type` (`None` for an effect ledfx-rs does not have), to be
/// validated like any other.
pub fn random_config(
    effect_type: &str,
    keep: &[&str],
    rng: &mut impl Rng,
) -> Option<Map<String, Value>> {
    let entry = render_proc::effects::entry(effect_type)?;
    let mut out = Map::new();
    for field in entry.all_fields().filter(|f| !keep.contains(&f.key)) {
        let value = match field.kind {
            // Two decimals, so the values read like ones a person would choose.
            FieldKind::Float { min, max, .. } if max > min => {
                json!((rng.random_range(min..=max) * 100.0).round() / 100.0)
            }
            FieldKind::Int { min, max, .. } if max > min => json!(rng.random_range(min..=max)),
            FieldKind::Bool { .. } => json!(rng.random_bool(0.5)),
            FieldKind::Choice { options, .. } if !options.is_empty() => {
                json!(options[rng.random_range(0..options.len())])
            }
            _ => continue,
        };
        out.insert(field.key.to_owned(), value);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_randomised_config_validates_and_the_kept_keys_are_left_out() {
        let mut rng = rand::rng();
        for effect in render_proc::effect_types() {
            for _ in 0..50 {
                let config = random_config(effect, KEEP_ON_SET, &mut rng).unwrap();
                assert!(
                    KEEP_ON_SET.iter().all(|k| !config.contains_key(*k)),
                    "{effect}"
                );
                render_proc::validate_effect_config(effect, &Value::Object(config.clone()))
                    .unwrap_or_else(|e| panic!("{effect}: {e} for {config:?}"));
            }
        }
        assert!(random_config("warp-drive", &[], &mut rng).is_none());
    }
}
