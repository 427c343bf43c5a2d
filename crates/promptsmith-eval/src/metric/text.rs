//! Text normalization and token F1.

/// Trims, lowercases and collapses runs of whitespace to one space.
pub fn normalize_basic(text: &str) -> String {
    text.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ")
}

/// SQuAD answer normalization: lowercase, drop ASCII punctuation, drop the articles
/// `a`, `an`, `the` (as whole words), collapse whitespace.
pub fn normalize_squad(text: &str) -> String {
    let lowered: String = text.to_lowercase().chars().filter(|c| !c.is_ascii_punctuation()).collect();
    // Remove articles on word boundaries, as Python's `re.sub(r"\b(a|an|the)\b", " ", s)` does.
    let mut out = String::with_capacity(lowered.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !matches!(word.as_str(), "a" | "an" | "the") {
            out.push_str(word);
        } else {
            out.push(' ');
        }
        word.clear();
    };
    for c in lowered.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Token-level precision, recall and F1 of a prediction against one reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenF1 {
    /// Share of predicted tokens found in the reference.
    pub precision: f64,
    /// Share of reference tokens found in the prediction.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
}

/// SQuAD token F1 after [`normalize_squad`]. When either side has no tokens, F1 is 1 if both
/// are empty and 0 otherwise.
pub fn token_f1(prediction: &str, reference: &str) -> TokenF1 {
    let pred = normalize_squad(prediction);
    let gold = normalize_squad(reference);
    let pred: Vec<&str> = pred.split_whitespace().collect();
    let gold: Vec<&str> = gold.split_whitespace().collect();
    if pred.is_empty() || gold.is_empty() {
        let same = if pred == gold { 1.0 } else { 0.0 };
        return TokenF1 { precision: same, recall: same, f1: same };
    }
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for t in &gold {
        *counts.entry(t).or_default() += 1;
    }
    let mut common = 0usize;
    for t in &pred {
        if let Some(c) = counts.get_mut(t) {
            if *c > 0 {
                *c -= 1;
                common += 1;
            }
        }
    }
    if common == 0 {
        return TokenF1 { precision: 0.0, recall: 0.0, f1: 0.0 };
    }
    let precision = common as f64 / pred.len() as f64;
    let recall = common as f64 / gold.len() as f64;
    TokenF1 { precision, recall, f1: 2.0 * precision * recall / (precision + recall) }
}

/// Shortens text for feedback messages, keeping the start and marking the cut.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let cut: String = text.chars().take(max_chars).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_normalization() {
        assert_eq!(normalize_basic("  Hello   World \n"), "hello world");
        assert_eq!(normalize_basic("ÉCOLE"), "école");
        assert_eq!(normalize_basic(""), "");
    }

    #[test]
    fn squad_normalization() {
        assert_eq!(normalize_squad("The Eiffel Tower!"), "eiffel tower");
        assert_eq!(normalize_squad("an apple, a pear"), "apple pear");
        assert_eq!(normalize_squad("theatre another"), "theatre another");
        assert_eq!(normalize_squad("U.S.A."), "usa");
        // `’` is not ASCII punctuation, so the article before it is still a whole word.
        assert_eq!(normalize_squad("the’s"), "’s");
    }

    #[test]
    fn f1_values() {
        // Values from the official SQuAD v1.1 evaluation script.
        assert_eq!(token_f1("Paris", "paris").f1, 1.0);
        let r = token_f1("the Denver Broncos", "Denver Broncos won");
        assert!((r.precision - 1.0).abs() < 1e-12);
        assert!((r.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.f1 - 0.8).abs() < 1e-12);
        assert_eq!(token_f1("cat", "dog").f1, 0.0);
        assert_eq!(token_f1("", "").f1, 1.0);
        assert_eq!(token_f1("the", "a").f1, 1.0);
        assert_eq!(token_f1("", "dog").f1, 0.0);
        // Repeated tokens count at most as often as they appear in the reference.
        let r = token_f1("a b b b", "b c");
        assert!((r.precision - 1.0 / 3.0).abs() < 1e-12);
        assert!((r.recall - 0.5).abs() < 1e-12);
        assert!((r.f1 - 0.4).abs() < 1e-12);
    }

    #[test]
    fn excerpts() {
        assert_eq!(excerpt("  short ", 10), "short");
        assert_eq!(excerpt("abcdefghijkl", 5), "abcde…");
    }
}
