//! LedFx's id rules: slugs made from names, and `-1`, `-2`… suffixes on collision.

/// LedFx's slug: every non-ASCII-alphanumeric character becomes a space, lower-case, runs of
/// spaces collapse, trimmed, spaces become `-`; empty → `default`.
pub fn slug(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    let joined = mapped.split_whitespace().collect::<Vec<_>>().join("-");
    if joined.is_empty() {
        "default".to_owned()
    } else {
        joined
    }
}

/// `base`, or `base-1`, `base-2`, … — the first that `taken` does not hold.
pub fn unique_id(base: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_owned();
    }
    (1u64..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !taken(candidate))
        .unwrap_or_else(|| base.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_match_the_ledfx_examples() {
        for (name, id) in [
            ("My Combo!! Virtual", "my-combo-virtual"),
            ("WLED_kitchen 2", "wled-kitchen-2"),
            ("LED 1.5m", "led-1-5m"),
            ("Café Lights", "caf-lights"),
            ("a--b", "a-b"),
            ("日本", "default"),
            ("  ", "default"),
        ] {
            assert_eq!(slug(name), id, "{name}");
        }
    }

    #[test]
    fn collisions_get_numbered_suffixes() {
        let taken = ["test", "test-1"];
        assert_eq!(unique_id("test", |c| taken.contains(&c)), "test-2");
        assert_eq!(unique_id("free", |c| taken.contains(&c)), "free");
    }
}
