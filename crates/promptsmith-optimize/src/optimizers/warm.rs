//! Warm starts: the instructions and demos of related programs' versions, matched to this
//! program's predictors by their fields, seeded into an optimizer's candidate pool.

use promptsmith_core::{Demo, Predictor, Program};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What one related version offers, per predictor of the program being optimized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarmStart {
    /// Where it came from (`NAME@production`).
    pub source: String,
    /// By predictor name (of the program being optimized).
    pub predictors: BTreeMap<String, WarmPredictor>,
}

/// A matched predictor's instruction and demos.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarmPredictor {
    /// The related predictor's name.
    pub from: String,
    /// Its instruction.
    pub instruction: String,
    /// Its demos.
    pub demos: Vec<Demo>,
}

/// Fields as (name, type) pairs.
type Fields = BTreeSet<(String, String)>;

/// A predictor's fields, inputs and outputs apart.
fn shape(p: &Predictor) -> (Fields, Fields) {
    let sig = &p.signature;
    let fields = |f: &[promptsmith_core::Field]| f.iter().map(|f| (f.name.clone(), f.ty.type_name())).collect();
    (fields(&sig.inputs), fields(&sig.outputs))
}

impl WarmStart {
    /// Matches `related`'s predictors to `program`'s: a predictor takes the instruction and demos
    /// of the first related predictor with the same input and output fields (names and types).
    /// `None` when no predictor matches.
    pub fn matching(source: &str, program: &Program, related: &Program) -> Option<WarmStart> {
        let mut predictors = BTreeMap::new();
        for p in &program.predictors {
            let want = shape(p);
            if let Some(q) = related.predictors.iter().find(|q| shape(q) == want) {
                let warm = WarmPredictor {
                    from: q.name.clone(),
                    instruction: q.signature.instruction(),
                    demos: q.demos.clone(),
                };
                predictors.insert(p.name.clone(), warm);
            }
        }
        (!predictors.is_empty()).then(|| WarmStart { source: source.to_string(), predictors })
    }
}

/// Where each warm start sits in a candidate pool: per predictor, its instruction's index and
/// its demo set's index (`None`: the predictor keeps the baseline's choice).
pub(crate) type WarmPick = BTreeMap<String, (Option<usize>, Option<usize>)>;

/// Adds the warm starts' instructions (new ones only) to `instructions` and their demos, as one
/// demo set each labelled `warm:SOURCE`, to `sets`; returns where each warm start landed.
pub(crate) fn seed_pool(
    warm: &[WarmStart],
    names: &[String],
    instructions: &mut BTreeMap<String, Vec<String>>,
    sets: &mut Vec<super::random_search::DemoSet>,
) -> Vec<WarmPick> {
    let mut picks = Vec::new();
    for w in warm {
        let has_demos = w.predictors.values().any(|p| !p.demos.is_empty());
        let set_index = has_demos.then(|| {
            let demos = names
                .iter()
                .map(|n| (n.clone(), w.predictors.get(n).map(|p| p.demos.clone()).unwrap_or_default()))
                .collect();
            sets.push(super::random_search::DemoSet { label: format!("warm:{}", w.source), demos });
            sets.len() - 1
        });
        let mut pick = WarmPick::new();
        for (name, p) in &w.predictors {
            let list = instructions.entry(name.clone()).or_default();
            let index = match list.iter().position(|i| i == &p.instruction) {
                Some(i) => i,
                None => {
                    list.push(p.instruction.clone());
                    list.len() - 1
                }
            };
            let demos = set_index.filter(|_| !p.demos.is_empty());
            pick.insert(name.clone(), (Some(index), demos));
        }
        picks.push(pick);
    }
    picks
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use promptsmith_core::Signature;
    use serde_json::json;

    fn predictor(name: &str, sig: &str, instruction: &str, demos: usize) -> Predictor {
        let mut p = Predictor::new(name, Signature::parse(sig).unwrap().with_instruction(instruction));
        p.demos = (0..demos).map(|i| json!({"q": format!("q{i}"), "a": "x"}).as_object().unwrap().clone()).collect();
        p
    }

    #[test]
    fn predictors_match_by_field_names_and_types() {
        let program = Program::single(predictor("answer", "q -> a", "Answer.", 0));
        let related = Program::single(predictor("solve", "q -> a", "Answer well.", 2));
        let w = WarmStart::matching("other@production", &program, &related).unwrap();
        let p = &w.predictors["answer"];
        assert_eq!((p.from.as_str(), p.instruction.as_str(), p.demos.len()), ("solve", "Answer well.", 2));
        let typed = Program::single(predictor("solve", "q -> a: int", "Count.", 0));
        assert_eq!(WarmStart::matching("x@1", &program, &typed), None);
    }

    #[test]
    fn the_pool_gets_new_instructions_and_one_demo_set_per_warm_start() {
        let names = vec!["answer".to_string()];
        let mut instructions = BTreeMap::from([("answer".to_string(), vec!["Answer.".to_string()])]);
        let mut sets = vec![super::super::random_search::DemoSet { label: "zero_shot".into(), demos: BTreeMap::new() }];
        let program = Program::single(predictor("answer", "q -> a", "Answer.", 0));
        let same = WarmStart::matching("a@1", &program, &Program::single(predictor("x", "q -> a", "Answer.", 0)));
        let other = WarmStart::matching("b@2", &program, &Program::single(predictor("y", "q -> a", "Be brief.", 3)));
        let picks = seed_pool(&[same.unwrap(), other.unwrap()], &names, &mut instructions, &mut sets);
        assert_eq!(instructions["answer"], vec!["Answer.".to_string(), "Be brief.".to_string()]);
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[1].label, "warm:b@2");
        assert_eq!(picks[0]["answer"], (Some(0), None));
        assert_eq!(picks[1]["answer"], (Some(1), Some(1)));
    }
}
