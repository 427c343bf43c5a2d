//! Text helpers for the IFEval checks: sentences, NLTK-like word tokens, and Python's
//! `str.isupper` / `str.islower`. (Words are counted with a regex in the parent module.)
//!
//! The reference implementation uses NLTK (a `\w+` tokenizer for words, the Punkt model for
//! sentences, `word_tokenize` for capital words). These are rule-based stand-ins; the
//! differences are listed on each function.

/// Abbreviations after which a period does not end a sentence (lowercase, without the period).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "inc", "ltd", "co", "corp", "no",
    "nos", "fig", "figs", "approx", "dept", "est", "mt", "ft", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "gen", "gov", "sen", "rep", "rev", "hon", "capt", "col", "lt", "sgt", "vol", "vols",
    "pp", "cf", "al", "u.s", "u.k", "a.m", "p.m", "ph.d", "b.a", "m.a", "b.sc", "m.sc",
];

/// Characters that end a sentence.
fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | '…')
}

/// Closing quotes and brackets that may follow a terminator inside the same sentence.
fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | '”' | '’' | ')' | ']' | '}' | '»' | '*')
}

/// Splits text into sentences (trimmed, non-empty, each holding at least one letter or digit).
///
/// A sentence ends at a run of `.`, `!`, `?` (or `。！？…`), plus any closing quotes, brackets or
/// asterisks, that is followed by whitespace or the end of the text. A single period does not
/// end a sentence after a known abbreviation (`Dr.`, `e.g.`, `U.S.`), a single letter (initials
/// such as `J. K.`), or a number that opens its line (list markers such as `1.`). Line breaks
/// alone do not end a sentence, as with Punkt.
///
/// Differences from NLTK's Punkt model, which the reference uses: Punkt learned its
/// abbreviations from a corpus and also weighs the case of the next word, so texts with rare
/// abbreviations, or periods inside unusual tokens, can be counted one or two sentences apart.
pub fn split_sentences(text: &str) -> Vec<&str> {
    let mut sentences = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        if !is_terminator(c) {
            i += 1;
            continue;
        }
        // The run of terminators and closers.
        let run_start = i;
        let mut j = i;
        while j < chars.len() && is_terminator(chars[j].1) {
            j += 1;
        }
        let terminators = j - run_start;
        while j < chars.len() && is_closer(chars[j].1) {
            j += 1;
        }
        let at_end = j == chars.len();
        if !at_end && !chars[j].1.is_whitespace() {
            i = j.max(i + 1);
            continue;
        }
        if terminators == 1 && c == '.' && !period_ends_sentence(text, pos) {
            i = j;
            continue;
        }
        let end = if at_end { text.len() } else { chars[j].0 };
        push_sentence(&mut sentences, &text[start..end]);
        start = end;
        i = j;
    }
    push_sentence(&mut sentences, &text[start..]);
    sentences
}

fn push_sentence<'a>(sentences: &mut Vec<&'a str>, piece: &'a str) {
    let piece = piece.trim();
    if piece.chars().any(char::is_alphanumeric) {
        sentences.push(piece);
    }
}

/// Whether the single period at byte `pos` ends a sentence, judging by the word before it.
fn period_ends_sentence(text: &str, pos: usize) -> bool {
    let before = &text[..pos];
    let word_start =
        before.rfind(char::is_whitespace).map_or(0, |p| p + before[p..].chars().next().map_or(1, char::len_utf8));
    let word = before[word_start..].trim_start_matches(|c: char| !c.is_alphanumeric());
    if word.is_empty() {
        return true;
    }
    let lower = word.to_lowercase();
    if ABBREVIATIONS.contains(&lower.as_str()) {
        return false;
    }
    let mut letters = word.chars();
    if let (Some(first), None) = (letters.next(), letters.next()) {
        if first.is_alphabetic() {
            return false;
        }
    }
    // A list marker: digits alone at the start of their line.
    if word.chars().all(|c| c.is_ascii_digit()) {
        let line_start = before.rfind('\n').map_or(0, |p| p + 1);
        if before[line_start..word_start].trim().is_empty() {
            return false;
        }
    }
    true
}

/// Number of sentences, by [`split_sentences`].
pub fn count_sentences(text: &str) -> usize {
    split_sentences(text).len()
}

/// Characters that NLTK's `word_tokenize` always splits off as their own tokens.
fn is_split_punct(c: char) -> bool {
    matches!(c, ';' | '@' | '#' | '$' | '%' | '&' | '?' | '!' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | '"')
        || matches!(c, '“' | '”' | '«' | '»')
}

/// Contraction suffixes NLTK splits from the word before them (lowercase).
const CONTRACTIONS: &[&str] = &["n't", "'s", "'re", "'ve", "'ll", "'d", "'m"];

/// Word tokens approximating NLTK's `word_tokenize`, which the reference uses to count
/// all-capital words: whitespace and the punctuation it always separates (`;@#$%&?!()[]{}<>"`,
/// and `,` or `:` unless between digits) split tokens; leading and trailing `.`, `'` and other
/// punctuation is dropped (such tokens are never all-capital, so counts of capital words agree);
/// contractions are split (`DON'T` gives `DO` and `N'T`, as NLTK does). Hyphenated words and
/// inner periods (`U.S.A`) stay one token.
pub fn word_tokens(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    for chunk in text.split_whitespace() {
        let chars: Vec<(usize, char)> = chunk.char_indices().collect();
        let mut piece_start = 0;
        for (k, &(pos, c)) in chars.iter().enumerate() {
            let split = is_split_punct(c)
                || (matches!(c, ',' | ':')
                    && !(k > 0
                        && chars[k - 1].1.is_ascii_digit()
                        && chars.get(k + 1).is_some_and(|n| n.1.is_ascii_digit())));
            if split {
                push_word(&mut tokens, &chunk[piece_start..pos]);
                piece_start = pos + c.len_utf8();
            }
        }
        push_word(&mut tokens, &chunk[piece_start..]);
    }
    tokens
}

fn push_word<'a>(tokens: &mut Vec<&'a str>, piece: &'a str) {
    let piece = piece.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’');
    let piece = piece.trim_start_matches(['\'', '’']);
    if piece.is_empty() {
        return;
    }
    let lower = piece.to_lowercase();
    for suffix in CONTRACTIONS {
        if lower.len() > suffix.len() && lower.ends_with(suffix) && lower.len() == piece.len() {
            let cut = piece.len() - suffix.len();
            if piece.is_char_boundary(cut) {
                tokens.push(&piece[..cut]);
                tokens.push(&piece[cut..]);
                return;
            }
        }
    }
    let piece = piece.trim_end_matches(['\'', '’']);
    if !piece.is_empty() {
        tokens.push(piece);
    }
}

/// Python's `str.isupper()`: at least one cased character, and no lowercase one.
pub fn is_upper(text: &str) -> bool {
    let mut cased = false;
    for c in text.chars() {
        if c.is_lowercase() {
            return false;
        }
        cased |= c.is_uppercase();
    }
    cased
}

/// Python's `str.islower()`: at least one cased character, and no uppercase one.
pub fn is_lower(text: &str) -> bool {
    let mut cased = false;
    for c in text.chars() {
        if c.is_uppercase() {
            return false;
        }
        cased |= c.is_lowercase();
    }
    cased
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_on_terminators() {
        assert_eq!(split_sentences("One. Two! Three? Four"), vec!["One.", "Two!", "Three?", "Four"]);
        assert_eq!(count_sentences(""), 0);
        assert_eq!(count_sentences("   "), 0);
        assert_eq!(count_sentences("No terminator at all"), 1);
        assert_eq!(count_sentences("Wait... what?! Yes."), 3);
        assert_eq!(count_sentences("He said \"stop.\" Then he left."), 2);
    }

    #[test]
    fn sentences_respect_abbreviations_numbers_and_initials() {
        assert_eq!(count_sentences("Dr. Smith met Mr. Jones at 3.30 p.m. yesterday. They talked."), 2);
        assert_eq!(count_sentences("J. K. Rowling wrote it. It sold well."), 2);
        assert_eq!(count_sentences("See e.g. the U.S. report. Done."), 2);
        assert_eq!(count_sentences("1. Apples are red.\n2. Pears are green."), 2);
        assert_eq!(count_sentences("It costs 3.5 dollars. Cheap."), 2);
        assert_eq!(count_sentences("I counted to 10. Then I stopped."), 2);
    }

    #[test]
    fn line_breaks_alone_do_not_split() {
        assert_eq!(count_sentences("A title\n\nThe first sentence. The second."), 2);
    }

    #[test]
    fn word_tokens_approximate_nltk() {
        assert_eq!(word_tokens("HELLO, WORLD! Don't stop."), vec!["HELLO", "WORLD", "Do", "n't", "stop"]);
        assert_eq!(word_tokens("U.S.A. is well-known"), vec!["U.S.A", "is", "well-known"]);
        assert_eq!(word_tokens("I'M (HERE) 1,000:x"), vec!["I", "'M", "HERE", "1,000", "x"]);
        assert_eq!(word_tokens("'quoted' \"words\""), vec!["quoted", "words"]);
        assert!(word_tokens(" -- ... ").is_empty());
    }

    #[test]
    fn python_case_predicates() {
        assert!(is_upper("HELLO, WORLD 42!"));
        assert!(!is_upper("HELLO world"));
        assert!(!is_upper("1234 !!"));
        assert!(is_lower("hello, world 42!"));
        assert!(!is_lower("hello World"));
        assert!(!is_lower("..."));
        assert!(is_upper("ÉCOLE"));
    }
}
