//! IFEval: verifiable-instruction checks (Zhou et al., 2023, "Instruction-Following Evaluation
//! for Large Language Models").
//!
//! Each row of the IFEval data lists instruction ids (`punctuation:no_comma`,
//! `length_constraints:number_words`, ...) with their kwargs (`{"relation": "at least",
//! "num_words": 300}`); a response follows an instruction when a deterministic check passes.
//! Every id that occurs in the IFEval data is implemented here ([`INSTRUCTION_IDS`]) with the
//! semantics of Google's reference checks, in *strict* mode and in the *loose* mode that also
//! tries the response without its first and/or last line and without asterisks. An unknown id, or
//! kwargs that are missing, mistyped or out of range, is an error ([`EvalError::UnknownInstruction`],
//! [`EvalError::InvalidInstruction`]), never a pass.
//!
//! Deliberate differences from the reference:
//! - keywords, forbidden words, section splitters and postscript markers are matched literally
//!   (the reference splices them into regular expressions unescaped; for the words in the data
//!   this makes no difference);
//! - `keywords:letter_frequency` counts the character given even when it is not an ASCII letter
//!   (the data asks for `#` and `!`; the reference silently replaces those with a random letter);
//! - sentences, NLTK word tokens and language identification are approximations, see
//!   [`text`] and [`lang`];
//! - kwargs are validated: negative counts, a relation other than `less than` / `at least`, an
//!   `nth_paragraph` outside `1..=num_paragraphs`, or an unknown kwarg with a value is an error
//!   (kwargs whose value is `null` are ignored, as in the Hugging Face copy of the data).

pub mod lang;
pub mod text;

use super::{Metric, MetricResult};
use crate::error::{EvalError, Result};
use crate::metric::text::excerpt;
use promptsmith_core::{value_to_text, Example, Prediction};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// Every instruction id implemented (all ids of the IFEval data), sorted.
pub const INSTRUCTION_IDS: &[&str] = &[
    "change_case:capital_word_frequency",
    "change_case:english_capital",
    "change_case:english_lowercase",
    "combination:repeat_prompt",
    "combination:two_responses",
    "detectable_content:number_placeholders",
    "detectable_content:postscript",
    "detectable_format:constrained_response",
    "detectable_format:json_format",
    "detectable_format:multiple_sections",
    "detectable_format:number_bullet_lists",
    "detectable_format:number_highlighted_sections",
    "detectable_format:title",
    "keywords:existence",
    "keywords:forbidden_words",
    "keywords:frequency",
    "keywords:letter_frequency",
    "language:response_language",
    "length_constraints:nth_paragraph_first_word",
    "length_constraints:number_paragraphs",
    "length_constraints:number_sentences",
    "length_constraints:number_words",
    "punctuation:no_comma",
    "startend:end_checker",
    "startend:quotation",
];

/// Prediction field holding the response when none is given.
pub const DEFAULT_RESPONSE_FIELD: &str = "response";

/// Example label with the instruction ids (a JSON array of strings).
pub const IDS_LABEL: &str = "instruction_id_list";

/// Example label with the kwargs (a JSON array of objects, one per id).
pub const KWARGS_LABEL: &str = "kwargs";

/// The answers `detectable_format:constrained_response` accepts.
const CONSTRAINED_OPTIONS: [&str; 3] = ["My answer is yes.", "My answer is no.", "My answer is maybe."];

/// How far a count must compare with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// `less than`: actual < threshold.
    LessThan,
    /// `at least`: actual >= threshold.
    AtLeast,
}

impl Relation {
    /// Parses the reference's spelling (`less than`, `at least`).
    pub fn parse(text: &str) -> Option<Relation> {
        match text {
            "less than" => Some(Relation::LessThan),
            "at least" => Some(Relation::AtLeast),
            _ => None,
        }
    }

    /// Whether `actual` stands in this relation to `threshold`.
    pub fn holds(self, actual: usize, threshold: usize) -> bool {
        match self {
            Relation::LessThan => actual < threshold,
            Relation::AtLeast => actual >= threshold,
        }
    }

    /// `fewer than 3` or `at least 3`, for feedback.
    pub fn describe(self, threshold: usize) -> String {
        match self {
            Relation::LessThan => format!("fewer than {threshold}"),
            Relation::AtLeast => format!("at least {threshold}"),
        }
    }
}

/// Strict or loose checking, as in the reference's two evaluation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The response as it is.
    #[default]
    Strict,
    /// Followed when any of eight variants follows: the response and the response with every `*`
    /// removed, each also without its first line, its last line, or both.
    Loose,
}

/// Whether one instruction was followed, and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The instruction id.
    pub id: &'static str,
    /// Whether the response follows it.
    pub followed: bool,
    /// What was found, in words (`response has 212 words, needs at least 300`).
    pub detail: String,
}

/// The fixed regular expressions of the checks, compiled once.
#[derive(Debug)]
struct Patterns {
    word: Regex,
    placeholder: Regex,
    bullet_star: Regex,
    bullet_dash: Regex,
    highlight: Regex,
    double_highlight: Regex,
    title: Regex,
}

impl Patterns {
    fn build() -> std::result::Result<Patterns, regex::Error> {
        Ok(Patterns {
            // Python's `\w` for str patterns: letters, numbers and `_` (not combining marks).
            word: Regex::new(r"[\p{L}\p{N}_]+")?,
            placeholder: Regex::new(r"\[.*?\]")?,
            bullet_star: Regex::new(r"(?m)^\s*\*[^\*].*$")?,
            bullet_dash: Regex::new(r"(?m)^\s*-.*$")?,
            highlight: Regex::new(r"\*[^\n\*]*\*")?,
            double_highlight: Regex::new(r"\*\*[^\n\*]*\*\*")?,
            title: Regex::new(r"<<[^\n]+>>")?,
        })
    }
}

static PATTERNS: OnceLock<Patterns> = OnceLock::new();

fn patterns() -> Result<&'static Patterns> {
    if let Some(p) = PATTERNS.get() {
        return Ok(p);
    }
    let built = Patterns::build().map_err(|e| EvalError::InvalidInstruction {
        id: "ifeval".into(),
        message: format!("internal pattern failed to compile: {e}"),
    })?;
    Ok(PATTERNS.get_or_init(|| built))
}

/// A literal, optionally case-insensitive, optionally word-bounded pattern.
fn literal_regex(id: &str, kwarg: &str, text: &str, ignore_case: bool, word_bounded: bool) -> Result<Regex> {
    let mut pattern = String::new();
    if ignore_case {
        pattern.push_str("(?i)");
    }
    let escaped = regex::escape(text);
    if word_bounded {
        pattern.push_str(&format!(r"\b{escaped}\b"));
    } else {
        pattern.push_str(&escaped);
    }
    Regex::new(&pattern).map_err(|e| invalid(id, format!("kwarg '{kwarg}' gives an unusable pattern: {e}")))
}

fn invalid(id: &str, message: impl Into<String>) -> EvalError {
    EvalError::InvalidInstruction { id: id.to_string(), message: message.into() }
}

/// What an instruction checks, with its validated kwargs.
#[derive(Debug, Clone)]
enum Kind {
    CapitalWordFrequency { frequency: usize, relation: Relation },
    EnglishCapital,
    EnglishLowercase,
    RepeatPrompt { prompt: String },
    TwoResponses,
    Placeholders { min: usize },
    Postscript { marker: String, pattern: Regex },
    ConstrainedResponse,
    Json,
    Sections { splitter: String, min: usize, pattern: Regex },
    BulletLists { count: usize },
    Highlights { min: usize },
    Title,
    KeywordsExist { keywords: Vec<(String, Regex)> },
    ForbiddenWords { words: Vec<(String, Regex)> },
    KeywordFrequency { keyword: String, pattern: Regex, frequency: usize, relation: Relation },
    LetterFrequency { letter: char, frequency: usize, relation: Relation },
    Language { code: &'static str },
    NthParagraphFirstWord { paragraphs: usize, nth: usize, first_word: String },
    Paragraphs { count: usize },
    Sentences { count: usize, relation: Relation },
    Words { count: usize, relation: Relation },
    NoComma,
    EndsWith { phrase: String },
    Quotation,
}

/// Reads and validates one instruction's kwargs, remembering which were read.
struct Kwargs<'a> {
    id: &'a str,
    map: Option<&'a Map<String, Value>>,
    read: Vec<&'static str>,
}

impl<'a> Kwargs<'a> {
    fn new(id: &'a str, kwargs: &'a Value) -> Result<Self> {
        let map = match kwargs {
            Value::Null => None,
            Value::Object(m) => Some(m),
            other => return Err(invalid(id, format!("kwargs must be a JSON object, got {other}"))),
        };
        Ok(Kwargs { id, map, read: Vec::new() })
    }

    /// The value of `name`, or an error saying what was expected.
    fn value(&mut self, name: &'static str, expected: &str) -> Result<&'a Value> {
        self.read.push(name);
        match self.map.and_then(|m| m.get(name)) {
            None | Some(Value::Null) => {
                Err(invalid(self.id, format!("kwarg '{name}' is missing (expected {expected})")))
            }
            Some(v) => Ok(v),
        }
    }

    fn count(&mut self, name: &'static str) -> Result<usize> {
        let expected = "a non-negative integer";
        let v = self.value(name, expected)?;
        let n = match v {
            Value::Number(n) => {
                n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64))
            }
            _ => None,
        };
        n.and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| invalid(self.id, format!("kwarg '{name}' must be {expected}, got {v}")))
    }

    fn text(&mut self, name: &'static str) -> Result<String> {
        let expected = "a non-empty string";
        let v = self.value(name, expected)?;
        match v {
            Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            _ => Err(invalid(self.id, format!("kwarg '{name}' must be {expected}, got {v}"))),
        }
    }

    fn text_list(&mut self, name: &'static str) -> Result<Vec<String>> {
        let expected = "a non-empty list of non-empty strings";
        let v = self.value(name, expected)?;
        let items = match v {
            Value::Array(items) if !items.is_empty() => items,
            _ => return Err(invalid(self.id, format!("kwarg '{name}' must be {expected}, got {v}"))),
        };
        items
            .iter()
            .map(|item| match item {
                Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                _ => Err(invalid(self.id, format!("kwarg '{name}' must be {expected}, but holds {item}"))),
            })
            .collect()
    }

    fn relation(&mut self, name: &'static str) -> Result<Relation> {
        let expected = "\"less than\" or \"at least\"";
        let v = self.value(name, expected)?;
        v.as_str()
            .and_then(Relation::parse)
            .ok_or_else(|| invalid(self.id, format!("kwarg '{name}' must be {expected}, got {v}")))
    }

    /// Errors on a kwarg with a value that the instruction does not take.
    fn finish(self) -> Result<()> {
        let Some(map) = self.map else { return Ok(()) };
        let unknown: Vec<&str> = map
            .iter()
            .filter(|(k, v)| !v.is_null() && !self.read.contains(&k.as_str()))
            .map(|(k, _)| k.as_str())
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let takes = if self.read.is_empty() { "none".to_string() } else { self.read.join(", ") };
        Err(invalid(self.id, format!("unexpected kwarg(s) {} (this instruction takes {takes})", unknown.join(", "))))
    }
}

/// One verifiable instruction with validated kwargs, ready to check responses.
#[derive(Debug, Clone)]
pub struct Instruction {
    id: &'static str,
    kind: Kind,
    patterns: &'static Patterns,
}

impl Instruction {
    /// Builds the instruction `id` from its kwargs (a JSON object; `null` for none).
    ///
    /// Errors name the id and the kwarg: an unknown id, a missing kwarg, a wrongly typed or
    /// out-of-range one, or one the instruction does not take.
    pub fn parse(id: &str, kwargs: &Value) -> Result<Instruction> {
        let Some(&id) = INSTRUCTION_IDS.iter().find(|known| **known == id) else {
            return Err(EvalError::UnknownInstruction { id: id.to_string() });
        };
        let patterns = patterns()?;
        let mut k = Kwargs::new(id, kwargs)?;
        let kind = match id {
            "change_case:capital_word_frequency" => Kind::CapitalWordFrequency {
                frequency: k.count("capital_frequency")?,
                relation: k.relation("capital_relation")?,
            },
            "change_case:english_capital" => Kind::EnglishCapital,
            "change_case:english_lowercase" => Kind::EnglishLowercase,
            "combination:repeat_prompt" => Kind::RepeatPrompt { prompt: k.text("prompt_to_repeat")? },
            "combination:two_responses" => Kind::TwoResponses,
            "detectable_content:number_placeholders" => Kind::Placeholders { min: k.count("num_placeholders")? },
            "detectable_content:postscript" => {
                let marker = k.text("postscript_marker")?;
                let pattern = match marker.as_str() {
                    "P.P.S" => r"(?m)\s*p\.\s?p\.\s?s.*$".to_string(),
                    "P.S." => r"(?m)\s*p\.\s?s\..*$".to_string(),
                    other => format!(r"(?m)\s*{}.*$", regex::escape(&other.to_lowercase())),
                };
                let pattern = Regex::new(&pattern)
                    .map_err(|e| invalid(id, format!("kwarg 'postscript_marker' gives an unusable pattern: {e}")))?;
                Kind::Postscript { marker, pattern }
            }
            "detectable_format:constrained_response" => Kind::ConstrainedResponse,
            "detectable_format:json_format" => Kind::Json,
            "detectable_format:multiple_sections" => {
                let splitter = k.text("section_spliter")?;
                let min = k.count("num_sections")?;
                let pattern = Regex::new(&format!(r"\s?{}\s?\d+\s?", regex::escape(&splitter)))
                    .map_err(|e| invalid(id, format!("kwarg 'section_spliter' gives an unusable pattern: {e}")))?;
                Kind::Sections { splitter, min, pattern }
            }
            "detectable_format:number_bullet_lists" => Kind::BulletLists { count: k.count("num_bullets")? },
            "detectable_format:number_highlighted_sections" => Kind::Highlights { min: k.count("num_highlights")? },
            "detectable_format:title" => Kind::Title,
            "keywords:existence" => {
                let keywords = k.text_list("keywords")?;
                let keywords = keywords
                    .into_iter()
                    .map(|w| literal_regex(id, "keywords", &w, true, false).map(|re| (w, re)))
                    .collect::<Result<_>>()?;
                Kind::KeywordsExist { keywords }
            }
            "keywords:forbidden_words" => {
                let mut words = k.text_list("forbidden_words")?;
                words.sort();
                words.dedup();
                let words = words
                    .into_iter()
                    .map(|w| literal_regex(id, "forbidden_words", &w, true, true).map(|re| (w, re)))
                    .collect::<Result<_>>()?;
                Kind::ForbiddenWords { words }
            }
            "keywords:frequency" => {
                let keyword = k.text("keyword")?;
                let pattern = literal_regex(id, "keyword", &keyword, true, false)?;
                Kind::KeywordFrequency {
                    keyword,
                    pattern,
                    frequency: k.count("frequency")?,
                    relation: k.relation("relation")?,
                }
            }
            "keywords:letter_frequency" => {
                let letter_text = k.text("letter")?;
                let mut chars = letter_text.chars().flat_map(char::to_lowercase);
                let letter = match (chars.next(), chars.next()) {
                    (Some(c), None) => c,
                    _ => {
                        return Err(invalid(
                            id,
                            format!("kwarg 'letter' must be a single character, got \"{letter_text}\""),
                        ))
                    }
                };
                Kind::LetterFrequency {
                    letter,
                    frequency: k.count("let_frequency")?,
                    relation: k.relation("let_relation")?,
                }
            }
            "language:response_language" => {
                let code = k.text("language")?;
                let Some(&code) = lang::SUPPORTED_LANGUAGES.iter().find(|c| **c == code) else {
                    return Err(invalid(
                        id,
                        format!(
                            "kwarg 'language' must be an ISO 639-1 code the detector knows ({}), got \"{code}\"",
                            lang::SUPPORTED_LANGUAGES.join(", ")
                        ),
                    ));
                };
                Kind::Language { code }
            }
            "length_constraints:nth_paragraph_first_word" => {
                let paragraphs = k.count("num_paragraphs")?;
                let nth = k.count("nth_paragraph")?;
                if nth == 0 || nth > paragraphs {
                    return Err(invalid(
                        id,
                        format!("kwarg 'nth_paragraph' must be between 1 and num_paragraphs ({paragraphs}), got {nth}"),
                    ));
                }
                Kind::NthParagraphFirstWord { paragraphs, nth, first_word: k.text("first_word")?.to_lowercase() }
            }
            "length_constraints:number_paragraphs" => Kind::Paragraphs { count: k.count("num_paragraphs")? },
            "length_constraints:number_sentences" => {
                Kind::Sentences { count: k.count("num_sentences")?, relation: k.relation("relation")? }
            }
            "length_constraints:number_words" => {
                Kind::Words { count: k.count("num_words")?, relation: k.relation("relation")? }
            }
            "punctuation:no_comma" => Kind::NoComma,
            "startend:end_checker" => Kind::EndsWith { phrase: k.text("end_phrase")?.to_lowercase() },
            "startend:quotation" => Kind::Quotation,
            other => return Err(EvalError::UnknownInstruction { id: other.to_string() }),
        };
        k.finish()?;
        Ok(Instruction { id, kind, patterns })
    }

    /// The instruction id.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// Checks `response` in strict mode. An empty (or blank) response follows nothing.
    pub fn check(&self, response: &str) -> Outcome {
        if response.trim().is_empty() {
            return self.outcome(false, "response is empty".into());
        }
        let (followed, detail) = self.evaluate(response);
        self.outcome(followed, detail)
    }

    /// Checks `response` in the given mode.
    pub fn check_mode(&self, response: &str, mode: Mode) -> Outcome {
        match mode {
            Mode::Strict => self.check(response),
            Mode::Loose => self.check_loose(&LooseVariants::new(response)),
        }
    }

    /// Loose check over precomputed variants (shared by all instructions of one response).
    fn check_loose(&self, variants: &LooseVariants) -> Outcome {
        let strict = self.check(&variants.all[0]);
        if strict.followed {
            return strict;
        }
        for (variant, label) in variants.all.iter().zip(LooseVariants::LABELS).skip(1) {
            if variant.trim().is_empty() {
                continue;
            }
            let (followed, detail) = self.evaluate(variant);
            if followed {
                return self.outcome(true, format!("{detail} ({label})"));
            }
        }
        self.outcome(false, format!("{} (also with asterisks removed and the first/last line dropped)", strict.detail))
    }

    fn outcome(&self, followed: bool, detail: String) -> Outcome {
        Outcome { id: self.id, followed, detail }
    }

    /// The check itself, on a non-blank response.
    fn evaluate(&self, value: &str) -> (bool, String) {
        let p = self.patterns;
        match &self.kind {
            Kind::CapitalWordFrequency { frequency, relation } => {
                let n = text::word_tokens(value).into_iter().filter(|t| text::is_upper(t)).count();
                counted(relation.holds(n, *frequency), n, "all-capital words", relation.describe(*frequency))
            }
            Kind::EnglishCapital => {
                if !text::is_upper(value) {
                    return (false, "response is not entirely in capital letters".into());
                }
                english(value, "in capital letters")
            }
            Kind::EnglishLowercase => {
                if !text::is_lower(value) {
                    return (false, "response is not entirely in lowercase letters".into());
                }
                english(value, "in lowercase letters")
            }
            Kind::RepeatPrompt { prompt } => {
                if value.trim().to_lowercase().starts_with(&prompt.to_lowercase()) {
                    (true, "response starts by repeating the request".into())
                } else {
                    (
                        false,
                        format!(
                            "response does not start by repeating the request word for word ('{}'); it starts '{}'",
                            excerpt(prompt, 80),
                            excerpt(value, 80)
                        ),
                    )
                }
            }
            Kind::TwoResponses => two_responses(value),
            Kind::Placeholders { min } => {
                let n = p.placeholder.find_iter(value).count();
                counted(n >= *min, n, "[placeholders] in square brackets", format!("at least {min}"))
            }
            Kind::Postscript { marker, pattern } => {
                if pattern.is_match(&value.to_lowercase()) {
                    (true, format!("response has a postscript starting with {marker}"))
                } else {
                    (false, format!("response has no postscript starting with {marker}"))
                }
            }
            Kind::ConstrainedResponse => {
                let trimmed = value.trim();
                match CONSTRAINED_OPTIONS.iter().find(|o| trimmed.contains(*o)) {
                    Some(o) => (true, format!("response contains '{o}'")),
                    None => (
                        false,
                        format!(
                            "response contains none of {}",
                            CONSTRAINED_OPTIONS.iter().map(|o| format!("'{o}'")).collect::<Vec<_>>().join(", ")
                        ),
                    ),
                }
            }
            Kind::Json => json_format(value),
            Kind::Sections { splitter, min, pattern } => {
                let n = pattern.find_iter(value).count();
                counted(n >= *min, n, &format!("sections marked '{splitter} N'"), format!("at least {min}"))
            }
            Kind::BulletLists { count } => {
                let n = p.bullet_star.find_iter(value).count() + p.bullet_dash.find_iter(value).count();
                counted(n == *count, n, "bullet points ('* ' or '- ' lines)", format!("exactly {count}"))
            }
            Kind::Highlights { min } => {
                let single =
                    p.highlight.find_iter(value).filter(|m| !m.as_str().trim_matches('*').trim().is_empty()).count();
                let double = p
                    .double_highlight
                    .find_iter(value)
                    .filter(|m| !m.as_str()[2..m.as_str().len() - 2].trim().is_empty())
                    .count();
                let n = single + double;
                counted(n >= *min, n, "*highlighted* sections", format!("at least {min}"))
            }
            Kind::Title => {
                let found = p
                    .title
                    .find_iter(value)
                    .find(|m| !m.as_str().trim_start_matches('<').trim_end_matches('>').trim().is_empty());
                match found {
                    Some(m) => (true, format!("response has the title {}", excerpt(m.as_str(), 80))),
                    None => (false, "response has no title in double angular brackets, such as <<title>>".into()),
                }
            }
            Kind::KeywordsExist { keywords } => {
                let missing: Vec<String> =
                    keywords.iter().filter(|(_, re)| !re.is_match(value)).map(|(w, _)| format!("'{w}'")).collect();
                if missing.is_empty() {
                    (true, "response includes every keyword".into())
                } else {
                    (false, format!("response does not include the keyword(s) {}", missing.join(", ")))
                }
            }
            Kind::ForbiddenWords { words } => {
                let used: Vec<String> =
                    words.iter().filter(|(_, re)| re.is_match(value)).map(|(w, _)| format!("'{w}'")).collect();
                if used.is_empty() {
                    (true, "response uses none of the forbidden words".into())
                } else {
                    (false, format!("response uses the forbidden word(s) {}", used.join(", ")))
                }
            }
            Kind::KeywordFrequency { keyword, pattern, frequency, relation } => {
                let n = pattern.find_iter(value).count();
                let ok = relation.holds(n, *frequency);
                (ok, format!("'{keyword}' appears {n} time(s), needs {}", relation.describe(*frequency)))
            }
            Kind::LetterFrequency { letter, frequency, relation } => {
                let n = value.chars().flat_map(char::to_lowercase).filter(|c| c == letter).count();
                let ok = relation.holds(n, *frequency);
                (ok, format!("'{letter}' appears {n} time(s), needs {}", relation.describe(*frequency)))
            }
            Kind::Language { code } => match lang::detect_language(value) {
                None => {
                    (true, "the language could not be detected (counted as followed, as the reference does)".into())
                }
                Some(got) if got == *code => (true, format!("response is in {}", lang::language_name(code))),
                Some(got) => (
                    false,
                    format!(
                        "response looks {} ({got}), needs to be entirely {} ({code})",
                        lang::language_name(got),
                        lang::language_name(code)
                    ),
                ),
            },
            Kind::NthParagraphFirstWord { paragraphs, nth, first_word } => {
                nth_paragraph_first_word(value, *paragraphs, *nth, first_word)
            }
            Kind::Paragraphs { count } => divided_paragraphs(value, *count),
            Kind::Sentences { count, relation } => {
                let n = text::count_sentences(value);
                counted(relation.holds(n, *count), n, "sentences", relation.describe(*count))
            }
            Kind::Words { count, relation } => {
                let n = p.word.find_iter(value).count();
                counted(relation.holds(n, *count), n, "words", relation.describe(*count))
            }
            Kind::NoComma => {
                let n = value.matches(',').count();
                counted(n == 0, n, "commas", "none")
            }
            Kind::EndsWith { phrase } => {
                let cleaned = value.trim().trim_matches('"').to_lowercase();
                if cleaned.ends_with(phrase.as_str()) {
                    (true, format!("response ends with '{phrase}'"))
                } else {
                    let tail: String = {
                        let chars: Vec<char> = cleaned.chars().collect();
                        chars[chars.len().saturating_sub(60)..].iter().collect()
                    };
                    (false, format!("response does not end with '{phrase}'; it ends '…{tail}'"))
                }
            }
            Kind::Quotation => {
                let trimmed = value.trim();
                if trimmed.chars().count() > 1 && trimmed.starts_with('"') && trimmed.ends_with('"') {
                    (true, "response is wrapped in double quotation marks".into())
                } else {
                    (false, "response is not wrapped in double quotation marks".into())
                }
            }
        }
    }
}

/// `response has 212 words, needs at least 300`.
fn counted(ok: bool, n: usize, what: &str, needs: impl std::fmt::Display) -> (bool, String) {
    (ok, format!("response has {n} {what}, needs {needs}"))
}

/// The language half of the English case checks (the case half passed).
fn english(value: &str, case: &str) -> (bool, String) {
    match lang::detect_language(value) {
        None => (true, format!("response is {case}; its language could not be detected (counted as followed)")),
        Some("en") => (true, format!("response is in English and {case}")),
        Some(got) => (false, format!("response is {case} but looks {} ({got}), not English", lang::language_name(got))),
    }
}

fn two_responses(value: &str) -> (bool, String) {
    let parts: Vec<&str> = value.split("******").collect();
    let last = parts.len() - 1;
    let mut valid = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if part.trim().is_empty() {
            if i != 0 && i != last {
                return (false, "response has an empty response between ****** separators".into());
            }
        } else {
            valid.push(part.trim());
        }
    }
    match valid.as_slice() {
        [a, b] if a != b => (true, "response gives two different responses separated by ******".into()),
        [_, _] => (false, "the two responses separated by ****** are identical".into()),
        other => (false, format!("response has {} response(s) separated by ******, needs exactly 2", other.len())),
    }
}

fn json_format(value: &str) -> (bool, String) {
    let mut v = value.trim();
    for prefix in ["```json", "```Json", "```JSON", "```"] {
        v = v.strip_prefix(prefix).unwrap_or(v);
    }
    v = v.strip_suffix("```").unwrap_or(v).trim();
    match serde_json::from_str::<Value>(v) {
        Ok(_) => (true, "response is valid JSON".into()),
        Err(e) => (false, format!("response is not valid JSON ({e})")),
    }
}

fn divided_paragraphs(value: &str, count: usize) -> (bool, String) {
    let parts: Vec<&str> = value.split("***").collect();
    let last = parts.len() - 1;
    let mut n = parts.len();
    for (i, part) in parts.iter().enumerate() {
        if part.trim().is_empty() {
            if i == 0 || i == last {
                n -= 1;
            } else {
                return (false, "response has an empty paragraph between *** dividers".into());
            }
        }
    }
    counted(n == count, n, "paragraphs separated by ***", format!("exactly {count}"))
}

fn nth_paragraph_first_word(value: &str, paragraphs: usize, nth: usize, first_word: &str) -> (bool, String) {
    let parts: Vec<&str> = value.split("\n\n").collect();
    let n = parts.iter().filter(|p| !p.trim().is_empty()).count();
    let needs = format!("needs {paragraphs}, paragraph {nth} starting with '{first_word}'");
    if nth > n {
        return (false, format!("response has {n} paragraph(s) separated by blank lines, {needs}"));
    }
    let paragraph = parts[nth - 1].trim();
    if paragraph.is_empty() {
        return (false, format!("paragraph {nth} is empty (counting blank-line-separated blocks), {needs}"));
    }
    let word = paragraph.split_whitespace().next().unwrap_or("").trim_start_matches('\'').trim_start_matches('"');
    let found: String = word
        .chars()
        .take_while(|c| !matches!(c, '.' | ',' | '?' | '!' | '\'' | '"'))
        .flat_map(char::to_lowercase)
        .collect();
    let ok = n == paragraphs && found == first_word;
    (
        ok,
        format!(
            "response has {n} paragraph(s) separated by blank lines and paragraph {nth} starts with '{found}'; {needs}"
        ),
    )
}

/// The eight responses the loose mode tries, in the reference's order.
struct LooseVariants {
    all: [String; 8],
}

impl LooseVariants {
    const LABELS: [&'static str; 8] = [
        "as written",
        "with asterisks removed",
        "without the first line",
        "without the last line",
        "without the first and last lines",
        "with asterisks removed, without the first line",
        "with asterisks removed, without the last line",
        "with asterisks removed, without the first and last lines",
    ];

    fn new(response: &str) -> Self {
        let revised = response.replace('*', "");
        let [f, l, b] = Self::trimmed_lines(response);
        let [rf, rl, rb] = Self::trimmed_lines(&revised);
        LooseVariants { all: [response.to_string(), revised, f, l, b, rf, rl, rb] }
    }

    /// The text without its first line, without its last line, and without both (each trimmed).
    fn trimmed_lines(text: &str) -> [String; 3] {
        let lines: Vec<&str> = text.split('\n').collect();
        let n = lines.len();
        let join = |slice: &[&str]| slice.join("\n").trim().to_string();
        [
            join(&lines[1.min(n)..]),
            join(&lines[..n.saturating_sub(1)]),
            join(&lines[1.min(n)..n.saturating_sub(1).max(1.min(n))]),
        ]
    }
}

/// Checks `response` against every instruction, in the given mode.
pub fn check_all(instructions: &[Instruction], response: &str, mode: Mode) -> Vec<Outcome> {
    match mode {
        Mode::Strict => instructions.iter().map(|i| i.check(response)).collect(),
        Mode::Loose => {
            let variants = LooseVariants::new(response);
            instructions.iter().map(|i| i.check_loose(&variants)).collect()
        }
    }
}

/// Builds the instructions of one row from its id list and kwargs list (`kwargs` may be shorter
/// only when empty: no kwargs at all).
pub fn parse_instructions(ids: &[String], kwargs: &[Value]) -> Result<Vec<Instruction>> {
    if !kwargs.is_empty() && kwargs.len() != ids.len() {
        return Err(invalid(
            KWARGS_LABEL,
            format!("{} kwargs objects for {} instruction ids (one per id expected)", kwargs.len(), ids.len()),
        ));
    }
    ids.iter().enumerate().map(|(i, id)| Instruction::parse(id, kwargs.get(i).unwrap_or(&Value::Null))).collect()
}

/// One row of IFEval's `input_data.jsonl`.
#[derive(Debug, Clone, Deserialize)]
pub struct IfEvalRow {
    /// Row key.
    pub key: u64,
    /// The prompt given to the model.
    pub prompt: String,
    /// Instruction ids.
    pub instruction_id_list: Vec<String>,
    /// Kwargs, one object per id.
    #[serde(default)]
    pub kwargs: Vec<Value>,
}

impl IfEvalRow {
    /// The row's instructions, validated.
    pub fn instructions(&self) -> Result<Vec<Instruction>> {
        parse_instructions(&self.instruction_id_list, &self.kwargs)
    }
}

/// Reads the instructions from an example's labels [`IDS_LABEL`] and [`KWARGS_LABEL`].
pub fn example_instructions(example: &Example) -> Result<Vec<Instruction>> {
    let ids = match example.get(IDS_LABEL) {
        None | Some(Value::Null) => return Err(invalid(IDS_LABEL, "the example has no label 'instruction_id_list'")),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(invalid(IDS_LABEL, format!("instruction ids must be strings, got {other}"))),
            })
            .collect::<Result<Vec<_>>>()?,
        Some(other) => {
            return Err(invalid(
                IDS_LABEL,
                format!("must be a non-empty JSON array of ids, got {}", excerpt(&other.to_string(), 80)),
            ))
        }
    };
    let kwargs = match example.get(KWARGS_LABEL) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => {
            return Err(invalid(
                KWARGS_LABEL,
                format!("must be a JSON array of objects, got {}", excerpt(&other.to_string(), 80)),
            ))
        }
    };
    parse_instructions(&ids, &kwargs)
}

/// IFEval metric: reads [`IDS_LABEL`] and [`KWARGS_LABEL`] from the example and the response
/// from a prediction field (default [`DEFAULT_RESPONSE_FIELD`]).
///
/// Ids: `ifeval` scores the share of instructions followed (instruction-level strict accuracy);
/// `ifeval:all` scores 1 only when all are followed (prompt-level strict accuracy);
/// `ifeval:loose` and `ifeval:loose_all` are the loose counterparts. The feedback lists each
/// instruction not followed, in words.
#[derive(Debug, Clone)]
pub struct IfEvalMetric {
    field: String,
    mode: Mode,
    all: bool,
}

impl Default for IfEvalMetric {
    fn default() -> Self {
        IfEvalMetric::new(DEFAULT_RESPONSE_FIELD)
    }
}

impl IfEvalMetric {
    /// Instruction-level strict accuracy over the response in `field`.
    pub fn new(field: impl Into<String>) -> Self {
        IfEvalMetric { field: field.into(), mode: Mode::Strict, all: false }
    }

    /// From the parameter of an `ifeval[:param]` id: none, `all`, `loose` or `loose_all`.
    pub fn from_param(field: impl Into<String>, param: Option<&str>) -> Result<Self> {
        let m = IfEvalMetric::new(field);
        match param.map(str::trim) {
            None | Some("") | Some("strict") => Ok(m),
            Some("all") | Some("strict_all") => Ok(m.prompt_level()),
            Some("loose") => Ok(m.with_mode(Mode::Loose)),
            Some("loose_all") | Some("all_loose") => Ok(m.with_mode(Mode::Loose).prompt_level()),
            Some(other) => Err(EvalError::InvalidMetric {
                id: "ifeval".into(),
                message: format!(
                    "unknown variant '{other}' (use ifeval, ifeval:all, ifeval:loose or ifeval:loose_all)"
                ),
            }),
        }
    }

    /// Scores 1 only when every instruction is followed (prompt-level accuracy).
    pub fn prompt_level(mut self) -> Self {
        self.all = true;
        self
    }

    /// Sets strict or loose checking.
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The metric id (`ifeval`, `ifeval:all`, `ifeval:loose`, `ifeval:loose_all`).
    pub fn id(&self) -> &'static str {
        match (self.mode, self.all) {
            (Mode::Strict, false) => "ifeval",
            (Mode::Strict, true) => "ifeval:all",
            (Mode::Loose, false) => "ifeval:loose",
            (Mode::Loose, true) => "ifeval:loose_all",
        }
    }

    /// Checks that an example's labels name only known instructions with valid kwargs, so a
    /// run can refuse bad data before calling any model.
    pub fn validate(&self, example: &Example) -> Result<()> {
        example_instructions(example).map(|_| ())
    }

    /// Scores, or errors when the example's instruction labels are malformed.
    pub fn try_score(&self, example: &Example, prediction: &Prediction) -> Result<MetricResult> {
        let instructions = example_instructions(example)?;
        let response = match prediction.get(&self.field) {
            None | Some(Value::Null) => {
                return Ok(MetricResult::fail(format!("prediction has no field '{}'", self.field)));
            }
            Some(v) => value_to_text(v),
        };
        let outcomes = check_all(&instructions, &response, self.mode);
        let total = outcomes.len();
        let followed = outcomes.iter().filter(|o| o.followed).count();
        let score = if self.all {
            if followed == total {
                1.0
            } else {
                0.0
            }
        } else {
            followed as f64 / total as f64
        };
        let mode = match self.mode {
            Mode::Strict => "",
            Mode::Loose => " (loose)",
        };
        if followed == total {
            return Ok(MetricResult::new(score, format!("followed all {total} instruction(s){mode}")));
        }
        let mut feedback = format!("followed {followed} of {total} instructions{mode}; not followed:");
        for o in outcomes.iter().filter(|o| !o.followed) {
            feedback.push_str(&format!("\n- {}: {}", o.id, o.detail));
        }
        Ok(MetricResult::new(score, feedback))
    }

    /// Scores; malformed instruction labels (an unknown id, bad kwargs) give a metric error
    /// ([`MetricResult::metric_error`]: score 0, counted by the evaluator as an error), never a
    /// pass. Use [`IfEvalMetric::validate`] to reject such data up front.
    pub fn score_sync(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        match self.try_score(example, prediction) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "ifeval: invalid instruction labels");
                MetricResult::metric_error(format!("invalid IFEval labels: {e}"))
            }
        }
    }
}

#[async_trait::async_trait]
impl Metric for IfEvalMetric {
    fn name(&self) -> &str {
        self.id()
    }

    async fn score(&self, example: &Example, prediction: &Prediction) -> MetricResult {
        self.score_sync(example, prediction)
    }
}

#[cfg(test)]
mod tests;
