//! What a crash-loop rollback reverts: only what the failing stages run.
//!
//! Every accepted change records which parts of the document it touched ([`Part`]). When a
//! stage keeps failing after a change, the rollback takes the parts that stage runs back to
//! their value at the last healthy revision and keeps everything else, so a colour the user
//! saved while the lights were crash-looping survives the rollback of a bad effect. Devices
//! and virtuals are one part: a virtual's segments refer to devices, so restoring one without
//! the other could leave an inconsistent setup. When the parts cannot be told apart (no
//! record reaches back to the target, or no touched part explains the failure), the whole
//! document goes back. Either way the report lists the revisions undone and those kept.

use std::collections::BTreeSet;

use proto::stage::StageKind;

use crate::config::ConfigDoc;

/// A part of the document that a rollback reverts as a whole.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// The devices and virtuals (with their effects), including entries set aside.
    Setup,
    /// One top-level key.
    Core(String),
}

/// The parts `after` differs from `before` in.
pub fn touched(before: &ConfigDoc, after: &ConfigDoc) -> BTreeSet<Part> {
    let mut parts = BTreeSet::new();
    if before.devices != after.devices
        || before.virtuals != after.virtuals
        || before.kept != after.kept
    {
        parts.insert(Part::Setup);
    }
    for key in before.core.keys().chain(after.core.keys()) {
        if before.core.get(key) != after.core.get(key) {
            parts.insert(Part::Core(key.clone()));
        }
    }
    parts
}

/// Whether `stage` runs what `part` configures (so a bad value there can make it fail).
fn runs(stage: StageKind, part: &Part) -> bool {
    match part {
        Part::Setup => matches!(stage, StageKind::Render | StageKind::Output),
        Part::Core(key) => match key.as_str() {
            "global_brightness" | "global_transitions" => stage == StageKind::Render,
            "flush_on_deactivate" => stage == StageKind::Output,
            "audio" | "melbanks" | "melbank_collection" => stage == StageKind::Audio,
            _ => false,
        },
    }
}

/// A rollback worked out.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub doc: ConfigDoc,
    /// Revisions whose changes are undone.
    pub reverted: Vec<u64>,
    /// Revisions after the target whose changes stay.
    pub kept: Vec<u64>,
}

/// The rollback of `current` towards `target` for a failure of `stages`. `changes` holds
/// the parts each revision after the target touched, oldest first; `complete` says whether
/// it holds every such revision.
pub fn plan(
    current: &ConfigDoc,
    target: &ConfigDoc,
    changes: &[(u64, BTreeSet<Part>)],
    complete: bool,
    stages: &[StageKind],
) -> Plan {
    let suspect: BTreeSet<Part> = changes
        .iter()
        .flat_map(|(_, parts)| parts.iter())
        .filter(|part| stages.iter().any(|stage| runs(*stage, part)))
        .cloned()
        .collect();
    if !complete || suspect.is_empty() {
        return Plan {
            doc: target.clone(),
            reverted: changes.iter().map(|(r, _)| *r).collect(),
            kept: Vec::new(),
        };
    }
    let mut doc = current.clone();
    for part in &suspect {
        match part {
            Part::Setup => {
                doc.devices = target.devices.clone();
                doc.virtuals = target.virtuals.clone();
                doc.kept = target.kept.clone();
            }
            Part::Core(key) => match target.core.get(key) {
                Some(value) => {
                    doc.core_mut().insert(key.clone(), value.clone());
                }
                None => {
                    doc.core_mut().shift_remove(key);
                }
            },
        }
    }
    let (reverted, kept): (Vec<_>, Vec<_>) = changes
        .iter()
        .partition(|(_, parts)| parts.iter().any(|p| suspect.contains(p)));
    Plan {
        doc,
        reverted: reverted.into_iter().map(|(r, _)| *r).collect(),
        kept: kept.into_iter().map(|(r, _)| *r).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: serde_json::Value) -> ConfigDoc {
        ConfigDoc::from_value(value).unwrap()
    }

    #[test]
    fn only_what_the_failing_stage_runs_goes_back() {
        let target = doc(json!({"global_brightness": 1.0, "user_colors": {}}));
        let current = doc(json!({
            "global_brightness": 0.5,
            "user_colors": {"mine": "#123456"},
            "devices": [{"id": "d", "type": "dummy", "config": {"name": "D"}}]
        }));
        let changes = vec![
            (
                2,
                touched(&target, &doc(json!({"user_colors": {"mine": "#123456"}}))),
            ),
            (3, BTreeSet::from([Part::Setup])),
            (4, BTreeSet::from([Part::Core("global_brightness".into())])),
        ];
        let plan = plan(&current, &target, &changes, true, &[StageKind::Render]);
        assert_eq!(plan.reverted, [3, 4]);
        assert_eq!(plan.kept, [2]);
        assert!(plan.doc.devices.is_empty());
        assert_eq!(plan.doc.core["global_brightness"], 1.0);
        assert_eq!(plan.doc.core["user_colors"]["mine"], "#123456", "kept");

        // audio-proc does not run the setup: only the audio keys would go back, and none
        // changed, so nothing explains the failure and everything goes back.
        let plan = super::plan(&current, &target, &changes, true, &[StageKind::Audio]);
        assert_eq!(plan.doc, target);
        assert_eq!(plan.reverted, [2, 3, 4]);
        assert!(plan.kept.is_empty());
    }

    #[test]
    fn without_a_complete_record_the_whole_document_goes_back() {
        let target = doc(json!({"user_colors": {}}));
        let current = doc(json!({"user_colors": {"x": "#000000"}, "global_brightness": 0.2}));
        let changes = vec![(9, BTreeSet::from([Part::Core("global_brightness".into())]))];
        let plan = plan(&current, &target, &changes, false, &[StageKind::Render]);
        assert_eq!(plan.doc, target);
        assert_eq!(plan.reverted, [9]);
    }
}
