//! GEPA's merge: a crossover of two frontier candidates that descend from a common ancestor.
//! Each predictor takes its instruction from the side that changed it since the ancestor (when
//! both changed it, from the side with the higher validation score). The merged candidate is
//! kept when it scores at least as well as the better parent on a small validation subsample
//! drawn from the instances where either parent wins and where they tie.

use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};

/// One candidate's instruction per predictor.
pub(crate) type Texts = BTreeMap<String, String>;

/// Pair picks per merge attempt, and attempts per merge (as the reference).
const ATTEMPTS: usize = 10;

/// Merges already tried, so none is tried twice.
#[derive(Debug, Default, Clone)]
pub(crate) struct MergeLog {
    /// (first parent, second parent, ancestor) triplets already merged.
    triplets: BTreeSet<(usize, usize, usize)>,
    /// (first parent, second parent, the parent each predictor came from) already built.
    built: BTreeSet<(usize, usize, Vec<usize>)>,
}

/// A merged candidate and where its parts came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MergePick {
    /// The parent with the lower index.
    pub(crate) a: usize,
    /// The parent with the higher index.
    pub(crate) b: usize,
    /// Their common ancestor.
    pub(crate) ancestor: usize,
    /// The merged instructions.
    pub(crate) texts: Texts,
    /// The parent each predictor's instruction came from.
    pub(crate) sources: BTreeMap<String, usize>,
}

/// Every ancestor of `node` (its parents, their parents, ...).
pub(crate) fn ancestors(parents: &[Vec<usize>], node: usize) -> BTreeSet<usize> {
    let mut found = BTreeSet::new();
    let mut todo = parents.get(node).cloned().unwrap_or_default();
    while let Some(p) = todo.pop() {
        if found.insert(p) {
            todo.extend(parents.get(p).cloned().unwrap_or_default());
        }
    }
    found
}

fn text<'a>(texts: &'a [Texts], c: usize, name: &str) -> Option<&'a String> {
    texts.get(c).and_then(|t| t.get(name))
}

/// Whether some predictor was changed on exactly one side (so the merge takes something new).
fn worth_merging(texts: &[Texts], ancestor: usize, a: usize, b: usize) -> bool {
    let names = texts.get(ancestor).map(|t| t.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    names.iter().any(|n| {
        let (anc, ta, tb) = (text(texts, ancestor, n), text(texts, a, n), text(texts, b, n));
        (anc == ta || anc == tb) && ta != tb
    })
}

/// Two candidates of `pool` (neither an ancestor of the other) and a common ancestor that scores
/// no better than either and was not merged with them before (drawn with weights equal to their
/// scores).
fn pick_triplet(
    rng: &mut impl Rng,
    pool: &[usize],
    parents: &[Vec<usize>],
    agg: &[f64],
    texts: &[Texts],
    log: &MergeLog,
) -> Option<(usize, usize, usize)> {
    for _ in 0..ATTEMPTS {
        if pool.len() < 2 {
            return None;
        }
        let picked: Vec<usize> = pool.choose_multiple(rng, 2).copied().collect();
        let (a, b) = (picked[0].min(picked[1]), picked[0].max(picked[1]));
        let (anc_a, anc_b) = (ancestors(parents, a), ancestors(parents, b));
        if anc_a.contains(&b) || anc_b.contains(&a) {
            continue;
        }
        let score = |i: usize| agg.get(i).copied().unwrap_or(0.0);
        let common: Vec<usize> = anc_a
            .intersection(&anc_b)
            .copied()
            .filter(|c| !log.triplets.contains(&(a, b, *c)))
            .filter(|c| score(*c) <= score(a) && score(*c) <= score(b))
            .filter(|c| worth_merging(texts, *c, a, b))
            .collect();
        if common.is_empty() {
            continue;
        }
        let total: f64 = common.iter().map(|c| score(*c).max(0.0)).sum();
        let ancestor = if total > 0.0 {
            let mut u = rng.gen::<f64>() * total;
            *common.iter().find(|c| {
                u -= score(**c).max(0.0);
                u < 0.0
            })?
        } else {
            common[rng.gen_range(0..common.len())]
        };
        return Some((a, b, ancestor));
    }
    None
}

/// The merged instructions of `a` and `b` over `ancestor`, and the parent each came from.
fn combine(rng: &mut impl Rng, texts: &[Texts], agg: &[f64], (a, b, ancestor): (usize, usize, usize)) -> MergePick {
    let mut merged = Texts::new();
    let mut sources = BTreeMap::new();
    let names: Vec<String> = texts.get(ancestor).map(|t| t.keys().cloned().collect()).unwrap_or_default();
    let score = |i: usize| agg.get(i).copied().unwrap_or(0.0);
    for name in names {
        let (anc, ta, tb) = (text(texts, ancestor, &name), text(texts, a, &name), text(texts, b, &name));
        let from = if (anc == ta || anc == tb) && ta != tb {
            if anc == ta {
                b
            } else {
                a
            }
        } else if anc != ta && anc != tb {
            match score(a).total_cmp(&score(b)) {
                std::cmp::Ordering::Greater => a,
                std::cmp::Ordering::Less => b,
                std::cmp::Ordering::Equal => *[a, b].choose(rng).unwrap_or(&a),
            }
        } else {
            a
        };
        if let Some(t) = text(texts, from, &name) {
            merged.insert(name.clone(), t.clone());
        }
        sources.insert(name, from);
    }
    MergePick { a, b, ancestor, texts: merged, sources }
}

/// A merge of two candidates of `pool` (the frontier's non-dominated candidates) not tried
/// before, or `None` when there is none (fewer than three candidates, no common ancestor worth
/// merging over). The pick is logged so it is not tried again.
pub(crate) fn find_merge(
    rng: &mut impl Rng,
    pool: &[usize],
    parents: &[Vec<usize>],
    agg: &[f64],
    texts: &[Texts],
    log: &mut MergeLog,
) -> Option<MergePick> {
    if pool.len() < 2 || parents.len() < 3 {
        return None;
    }
    for _ in 0..ATTEMPTS {
        let Some(triplet) = pick_triplet(rng, pool, parents, agg, texts, log) else { continue };
        let pick = combine(rng, texts, agg, triplet);
        let origin: Vec<usize> = pick.sources.values().copied().collect();
        if !log.built.insert((pick.a, pick.b, origin)) {
            continue;
        }
        log.triplets.insert(triplet);
        return Some(pick);
    }
    None
}

/// Up to `k` validation instances to judge a merge on: about a third where `a` beats `b`, a
/// third where `b` beats `a`, a third where they tie, the rest from any instance not drawn yet.
pub(crate) fn subsample(rng: &mut impl Rng, a: &[f64], b: &[f64], k: usize) -> Vec<usize> {
    let n = a.len().min(b.len());
    let k = k.min(n);
    let buckets: [Vec<usize>; 3] = [
        (0..n).filter(|i| a[*i] > b[*i]).collect(),
        (0..n).filter(|i| b[*i] > a[*i]).collect(),
        (0..n).filter(|i| a[*i] == b[*i]).collect(),
    ];
    let each = k.div_ceil(3).max(1);
    let mut picked: Vec<usize> = Vec::new();
    for bucket in &buckets {
        let take = each.min(k - picked.len()).min(bucket.len());
        picked.extend(bucket.choose_multiple(rng, take).copied());
    }
    let unused: Vec<usize> = (0..n).filter(|i| !picked.contains(i)).collect();
    let rest = k - picked.len();
    picked.extend(unused.choose_multiple(rng, rest).copied());
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn texts(rows: &[&[(&str, &str)]]) -> Vec<Texts> {
        rows.iter().map(|r| r.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).collect()
    }

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(3)
    }

    /// Seed 0; 1 changed `draft` and 2 changed `answer`, both from 0.
    fn siblings() -> (Vec<Vec<usize>>, Vec<Texts>) {
        let parents = vec![vec![], vec![0], vec![0]];
        let t = texts(&[
            &[("answer", "A0"), ("draft", "D0")],
            &[("answer", "A0"), ("draft", "D1")],
            &[("answer", "A2"), ("draft", "D0")],
        ]);
        (parents, t)
    }

    #[test]
    fn ancestors_follow_every_parent() {
        let parents = vec![vec![], vec![0], vec![1], vec![0], vec![2, 3]];
        assert_eq!(ancestors(&parents, 4), [0, 1, 2, 3].into_iter().collect());
        assert!(ancestors(&parents, 0).is_empty());
    }

    #[test]
    fn each_predictor_comes_from_the_side_that_changed_it() {
        let (parents, t) = siblings();
        let mut log = MergeLog::default();
        let pick = find_merge(&mut rng(), &[1, 2], &parents, &[0.3, 0.5, 0.6], &t, &mut log).unwrap();
        assert_eq!((pick.a, pick.b, pick.ancestor), (1, 2, 0));
        assert_eq!(pick.texts["draft"], "D1");
        assert_eq!(pick.texts["answer"], "A2");
        assert_eq!(pick.sources, [("answer".to_string(), 2), ("draft".to_string(), 1)].into_iter().collect());
        // The same merge is not offered twice.
        assert_eq!(find_merge(&mut rng(), &[1, 2], &parents, &[0.3, 0.5, 0.6], &t, &mut log), None);
    }

    #[test]
    fn a_predictor_both_sides_changed_comes_from_the_better_side() {
        let parents = vec![vec![], vec![0], vec![0]];
        let t = texts(&[
            &[("answer", "A0"), ("draft", "D0")],
            &[("answer", "A1"), ("draft", "D1")],
            &[("answer", "A2"), ("draft", "D0")],
        ]);
        let pick = find_merge(&mut rng(), &[1, 2], &parents, &[0.1, 0.4, 0.6], &t, &mut MergeLog::default()).unwrap();
        assert_eq!(pick.texts["answer"], "A2", "changed on both sides: the higher-scoring side's");
        assert_eq!(pick.texts["draft"], "D1", "changed on one side: that side's");
    }

    #[test]
    fn no_merge_without_a_useful_common_ancestor() {
        let (parents, t) = siblings();
        let agg = [0.3, 0.5, 0.6];
        // Fewer than three candidates, or fewer than two on the frontier.
        assert_eq!(find_merge(&mut rng(), &[0, 1], &parents[..2], &agg, &t, &mut MergeLog::default()), None);
        assert_eq!(find_merge(&mut rng(), &[2], &parents, &agg, &t, &mut MergeLog::default()), None);
        // One is the other's ancestor.
        let chain = vec![vec![], vec![0], vec![1]];
        assert_eq!(find_merge(&mut rng(), &[1, 2], &chain, &agg, &t, &mut MergeLog::default()), None);
        // The ancestor scores better than a descendant.
        assert_eq!(find_merge(&mut rng(), &[1, 2], &parents, &[0.9, 0.5, 0.6], &t, &mut MergeLog::default()), None);
        // Both changed the same predictor identically: nothing to take from either side.
        let same = texts(&[&[("answer", "A0")], &[("answer", "A1")], &[("answer", "A1")]]);
        assert_eq!(find_merge(&mut rng(), &[1, 2], &parents, &agg, &same, &mut MergeLog::default()), None);
    }

    #[test]
    fn the_subsample_mixes_wins_of_each_side_and_ties() {
        let a = [1.0, 1.0, 1.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5];
        let b = [0.0, 0.0, 0.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5];
        let picked = subsample(&mut rng(), &a, &b, 5);
        assert_eq!(picked.len(), 5);
        let distinct: BTreeSet<usize> = picked.iter().copied().collect();
        assert_eq!(distinct.len(), 5);
        assert_eq!(picked.iter().filter(|i| **i < 3).count(), 2, "{picked:?}");
        assert_eq!(picked.iter().filter(|i| (3..5).contains(*i)).count(), 2, "{picked:?}");
        assert_eq!(picked.iter().filter(|i| **i >= 5).count(), 1, "{picked:?}");
        // Fewer instances than asked: each once.
        assert_eq!(subsample(&mut rng(), &a[..2], &b[..2], 5).len(), 2);
        // One-sided buckets are filled up from the rest.
        let picked = subsample(&mut rng(), &[1.0; 6], &[0.0; 6], 5);
        assert_eq!(picked.iter().copied().collect::<BTreeSet<_>>().len(), 5);
    }
}
