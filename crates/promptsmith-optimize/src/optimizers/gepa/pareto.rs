//! The per-instance Pareto frontier GEPA selects parents from.
//!
//! A score table has one row per candidate and one column per validation instance. An
//! instance's front is the set of candidates with the highest score on it (ties all count). A
//! candidate is dominated when every front it is in also holds another candidate that is not
//! dominated; such candidates are pruned one at a time, lowest aggregate score first, so that of
//! two candidates best on exactly the same instances the one with the higher aggregate stays.
//! Parents are drawn from the remaining candidates with weights equal to the number of fronts
//! each is in.

use rand::Rng;
use std::collections::BTreeSet;

/// Per validation instance, the candidates with the top score on it.
pub(crate) fn fronts(table: &[Vec<f64>]) -> Vec<BTreeSet<usize>> {
    let instances = table.iter().map(Vec::len).max().unwrap_or(0);
    (0..instances)
        .map(|j| {
            let best = table.iter().filter_map(|row| row.get(j)).copied().fold(f64::NEG_INFINITY, f64::max);
            table.iter().enumerate().filter(|(_, row)| row.get(j) == Some(&best)).map(|(i, _)| i).collect()
        })
        .collect()
}

/// Whether every front holding `y` also holds a candidate of `others`.
fn is_dominated(y: usize, others: &BTreeSet<usize>, fronts: &[BTreeSet<usize>]) -> bool {
    fronts.iter().filter(|f| f.contains(&y)).all(|f| f.iter().any(|p| others.contains(p)))
}

/// The fronts with dominated candidates removed (lowest aggregate score examined first, ties by
/// index). Every non-empty front keeps at least one candidate.
pub(crate) fn remove_dominated(fronts: &[BTreeSet<usize>], agg: &[f64]) -> Vec<BTreeSet<usize>> {
    let mut order: Vec<usize> = fronts.iter().flatten().copied().collect::<BTreeSet<_>>().into_iter().collect();
    let score = |i: usize| agg.get(i).copied().unwrap_or(f64::NEG_INFINITY);
    order.sort_by(|a, b| score(*a).total_cmp(&score(*b)).then(a.cmp(b)));
    let mut dominated: BTreeSet<usize> = BTreeSet::new();
    loop {
        let found = order.iter().copied().filter(|y| !dominated.contains(y)).find(|&y| {
            let others: BTreeSet<usize> = order.iter().copied().filter(|p| *p != y && !dominated.contains(p)).collect();
            is_dominated(y, &others, fronts)
        });
        match found {
            Some(y) => {
                dominated.insert(y);
            }
            None => break,
        }
    }
    fronts.iter().map(|f| f.iter().copied().filter(|p| !dominated.contains(p)).collect()).collect()
}

/// The candidates that survive pruning, ascending.
pub(crate) fn dominators(table: &[Vec<f64>], agg: &[f64]) -> Vec<usize> {
    remove_dominated(&fronts(table), agg).into_iter().flatten().collect::<BTreeSet<_>>().into_iter().collect()
}

/// How many pruned fronts each surviving candidate is in, ascending by candidate.
pub(crate) fn front_counts(table: &[Vec<f64>], agg: &[f64]) -> Vec<(usize, usize)> {
    let pruned = remove_dominated(&fronts(table), agg);
    let mut counts: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    for p in pruned.iter().flatten() {
        *counts.entry(*p).or_default() += 1;
    }
    counts.into_iter().collect()
}

/// Index of the highest aggregate score (the first of ties).
pub(crate) fn best(agg: &[f64]) -> usize {
    agg.iter().enumerate().fold(0, |b, (i, s)| if *s > agg[b] { i } else { b })
}

/// A parent drawn from the pruned frontier, weighted by the number of instances it is best on
/// (the best aggregate when the table is empty).
pub(crate) fn sample_parent(table: &[Vec<f64>], agg: &[f64], rng: &mut impl Rng) -> usize {
    let counts = front_counts(table, agg);
    let total: usize = counts.iter().map(|(_, c)| c).sum();
    if total == 0 {
        return best(agg);
    }
    let mut u = rng.gen_range(0..total);
    for (i, c) in &counts {
        if u < *c {
            return *i;
        }
        u -= c;
    }
    best(agg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn set(v: &[usize]) -> BTreeSet<usize> {
        v.iter().copied().collect()
    }

    fn mean(table: &[Vec<f64>]) -> Vec<f64> {
        table.iter().map(|r| r.iter().sum::<f64>() / r.len() as f64).collect()
    }

    #[test]
    fn fronts_hold_every_candidate_tied_at_the_top() {
        let table = vec![vec![1.0, 0.0, 0.5], vec![1.0, 1.0, 0.0], vec![0.0, 0.0, 0.5]];
        assert_eq!(fronts(&table), vec![set(&[0, 1]), set(&[1]), set(&[0, 2])]);
        assert!(fronts(&[]).is_empty());
    }

    #[test]
    fn a_candidate_best_only_where_another_is_too_is_pruned() {
        // 0 is best on instances {0, 2}; 2 ties it on instance 2 only, so 2 is dominated. 1 alone
        // is best on instance 1 and stays.
        let table = vec![vec![1.0, 0.0, 0.5], vec![1.0, 1.0, 0.0], vec![0.0, 0.0, 0.5]];
        let agg = mean(&table);
        let pruned = remove_dominated(&fronts(&table), &agg);
        assert_eq!(pruned, vec![set(&[0, 1]), set(&[1]), set(&[0])]);
        assert_eq!(dominators(&table, &agg), vec![0, 1]);
        assert_eq!(front_counts(&table, &agg), vec![(0, 2), (1, 2)]);
    }

    #[test]
    fn of_two_candidates_best_on_the_same_instances_the_higher_aggregate_stays() {
        // 0 and 1 are both best on instances 0 and 1 (and nowhere else); 1 scores higher overall
        // (instance 2), where 2 is best. 0 is examined first (lower aggregate) and pruned.
        let table = vec![vec![1.0, 1.0, 0.0], vec![1.0, 1.0, 0.4], vec![0.0, 0.0, 0.9]];
        let agg = mean(&table);
        assert_eq!(dominators(&table, &agg), vec![1, 2]);
        // With the aggregates reversed, 1 is examined first and pruned instead.
        let flipped = vec![agg[1], agg[0], agg[2]];
        assert_eq!(dominators(&table, &flipped), vec![0, 2]);
    }

    #[test]
    fn every_front_keeps_a_candidate() {
        let table = vec![vec![0.0, 0.0], vec![0.0, 0.0], vec![0.0, 0.0]];
        let pruned = remove_dominated(&fronts(&table), &mean(&table));
        assert!(pruned.iter().all(|f| f.len() == 1), "{pruned:?}");
        assert_eq!(dominators(&table, &mean(&table)).len(), 1);
    }

    #[test]
    fn parents_are_drawn_by_how_many_instances_they_are_best_on() {
        // 0 is alone on top of 3 instances, 1 of 1, and 2 is dominated (never drawn).
        let table = vec![vec![1.0, 1.0, 1.0, 0.0, 0.0], vec![0.0, 0.0, 0.0, 1.0, 0.0], vec![0.0, 0.0, 0.0, 0.0, 0.0]];
        let agg = mean(&table);
        assert_eq!(front_counts(&table, &agg), vec![(0, 4), (1, 2)]);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut drawn = [0usize; 3];
        for _ in 0..6000 {
            drawn[sample_parent(&table, &agg, &mut rng)] += 1;
        }
        assert_eq!(drawn[2], 0);
        // Instance 4 is tied at 0 by all three; pruning 2 leaves it to 0 and 1, so 0 is best on 4 of
        // the 6 (instance, candidate) slots.
        let share = drawn[0] as f64 / 6000.0;
        assert!((share - 4.0 / 6.0).abs() < 0.03, "{drawn:?}");
    }

    #[test]
    fn best_takes_the_first_of_ties_and_an_empty_table_falls_back_to_it() {
        assert_eq!(best(&[0.2, 0.5, 0.5]), 1);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        assert_eq!(sample_parent(&[Vec::new(), Vec::new()], &[0.1, 0.3], &mut rng), 1);
    }
}
