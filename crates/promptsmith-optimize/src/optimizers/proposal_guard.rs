//! Checks a proposed instruction before it joins the search. Small proposer models often copy
//! a worked example into the instruction (quoting its input, or solving it step by step) or
//! leave a template placeholder such as "[role suited to the task]" unfilled. Such an
//! instruction speaks to one example rather than the task, so it is re-asked once and then
//! dropped. So is a "proposal" that merely restates the step's signature
//! (`question -> answer: enum(...)`): it tells the model nothing the prompt does not say already,
//! and a "proposal" that repeats the directions the proposer was given (a small model asked again
//! answered with the re-ask's own wording, and MIPROv2 kept it as the judge's instruction), and
//! one that only asks questions (a proposer echoing its data-summary prompt as "can the model
//! generate a concise observation about the task ...?" gave the model nothing to do). A
//! paraphrase of one training input escapes the word-run check, so a proposal is also refused
//! when several of its words occur in one training input and in no other ("the actress,
//! courtesan, or mistress whose birthday is asked for" from a HotpotQA question; GEPA kept it).

use promptsmith_core::{value_to_text, Example, Signature};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

/// Words in a row that count as quoting a text (shorter texts must be quoted whole).
const SHINGLE: usize = 6;
/// Texts shorter than this many words are never counted as quoted.
const MIN_QUOTED: usize = 4;

/// What a re-asked proposal is told besides its tip (and what no proposal may repeat).
pub(crate) const REASK: &str = "Write a general instruction that fits every input: do not quote, answer or work \
                                through any particular example, do not merely restate the input and output fields, \
                                leave no placeholder to be filled in, and give directions rather than ask questions.";

/// Words of at least this many characters count as content words.
const CONTENT_CHARS: usize = 4;
/// Training examples needed before a word found in only one of them counts as that example's own
/// (in a handful of examples most words are found in one only).
const MIN_EXAMPLES_FOR_OWN: usize = 10;
/// One example's own words a proposal may use; one more and it speaks to that example...
const MAX_OWN_WORDS: usize = 2;
/// ...when they are also at least this share of the proposal's content words (a long, general
/// text may pick up a few by chance).
const OWN_SHARE: f64 = 0.125;

/// Why a proposal was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Defect {
    /// Repeats words from a training example or demo (the quoted words).
    QuotesExample(String),
    /// Keeps a placeholder meant to be filled in.
    Placeholder(String),
    /// Only restates the step's signature (its field names and types).
    RestatesSignature,
    /// Repeats the directions the proposer was given (the repeated words).
    EchoesDirections(String),
    /// Only asks questions instead of telling the model what to do.
    AsksQuestion,
    /// Uses several words found in one training example and in no other (those words).
    SpeaksToOneExample(Vec<String>),
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::QuotesExample(q) => write!(f, "quotes a training example (\"{q}\")"),
            Defect::Placeholder(p) => write!(f, "keeps the placeholder {p}"),
            Defect::RestatesSignature => write!(f, "only restates the signature"),
            Defect::EchoesDirections(d) => write!(f, "repeats the directions it was given (\"{d}\")"),
            Defect::AsksQuestion => write!(f, "asks a question instead of giving an instruction"),
            Defect::SpeaksToOneExample(w) => {
                write!(f, "speaks to one training example (its words \"{}\")", w.join("\", \""))
            }
        }
    }
}

/// What a proposal may not repeat: runs of words from the training inputs and the demos shown.
pub(crate) struct ProposalGuard {
    needles: HashSet<Vec<String>>,
    /// Runs of [`SHINGLE`] words from the proposer's own directions ([`REASK`] and any added).
    directions: HashSet<Vec<String>>,
    /// Words of the step's signature (field names, types, enum labels), when it is known.
    signature: Option<HashSet<String>>,
    /// Content words found in one training example only, with that example's index.
    own: HashMap<String, usize>,
    /// The directions' words (they, and the signature's, never count as an example's own).
    known: HashSet<String>,
}

/// Words a signature restatement may use besides the signature's own.
const SIGNATURE_WORDS: &[&str] = &[
    "str",
    "string",
    "int",
    "integer",
    "float",
    "number",
    "bool",
    "boolean",
    "list",
    "json",
    "enum",
    "literal",
    "input",
    "inputs",
    "output",
    "outputs",
    "field",
    "fields",
    "signature",
];
/// Words of its own an instruction needs beyond a restated signature.
const MIN_OWN_WORDS: usize = 4;

/// The content words found in exactly one of `examples`' inputs, each with its example's index
/// (none for fewer than [`MIN_EXAMPLES_FOR_OWN`] examples).
fn own_words(examples: &[Example]) -> HashMap<String, usize> {
    if examples.len() < MIN_EXAMPLES_FOR_OWN {
        return HashMap::new();
    }
    let mut found: HashMap<String, Option<usize>> = HashMap::new();
    for (i, e) in examples.iter().enumerate() {
        let mine: HashSet<String> = e.inputs().values().flat_map(|v| words(&value_to_text(v))).collect();
        for w in mine.into_iter().filter(|w| w.chars().count() >= CONTENT_CHARS) {
            // Each example's words are distinct, so a second sighting is another example.
            found.entry(w).and_modify(|o| *o = None).or_insert(Some(i));
        }
    }
    found.into_iter().filter_map(|(w, i)| Some((w, i?))).collect()
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl ProposalGuard {
    /// A guard over the inputs of `examples` and every field of `demos`.
    pub(crate) fn new<'a>(examples: &[Example], demos: impl IntoIterator<Item = &'a Map<String, Value>>) -> Self {
        let mut needles = HashSet::new();
        let mut add = |v: &Value| {
            let w = words(&value_to_text(v));
            if w.len() < MIN_QUOTED {
                return;
            }
            if w.len() <= SHINGLE {
                needles.insert(w);
            } else {
                needles.extend(w.windows(SHINGLE).map(<[String]>::to_vec));
            }
        };
        for e in examples {
            e.inputs().values().for_each(&mut add);
        }
        for d in demos {
            d.values().for_each(&mut add);
        }
        let own = own_words(examples);
        ProposalGuard { needles, directions: HashSet::new(), signature: None, own, known: HashSet::new() }
            .with_directions(&[REASK])
    }

    /// Also turns away proposals that repeat six words in a row of any of `texts` (the
    /// proposer's own instruction, say).
    pub(crate) fn with_directions(mut self, texts: &[&str]) -> Self {
        for t in texts {
            let w = words(t);
            self.directions.extend(w.windows(SHINGLE).map(<[String]>::to_vec));
            self.known.extend(w);
        }
        self
    }

    /// Also turns away proposals that only restate `signature`.
    pub(crate) fn with_signature(mut self, signature: &Signature) -> Self {
        let mut known: HashSet<String> = words(&signature.to_signature_string()).into_iter().collect();
        known.extend(SIGNATURE_WORDS.iter().map(|w| w.to_string()));
        self.signature = Some(known);
        self
    }

    /// Whether `instruction` is an arrow between the signature's words and little else.
    fn restates_signature(&self, instruction: &str) -> bool {
        let Some(known) = &self.signature else { return false };
        let arrow = ["->", "→", "=>"].iter().any(|a| instruction.contains(a));
        let w = words(instruction);
        let own = w.iter().filter(|x| !known.contains(*x)).count();
        arrow && w.len() > own && own < MIN_OWN_WORDS
    }

    /// Whether `word` is the directions' or the signature's.
    fn is_known(&self, word: &str) -> bool {
        self.known.contains(word) || self.signature.as_ref().is_some_and(|s| s.contains(word))
    }

    /// The words of one training example that `w` (a proposal's words) speaks to, if any.
    fn one_examples_words(&self, w: &[String]) -> Option<Vec<String>> {
        let content: BTreeSet<&String> =
            w.iter().filter(|x| x.chars().count() >= CONTENT_CHARS && !self.is_known(x)).collect();
        let mut by_example: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for x in &content {
            if let Some(&i) = self.own.get(*x) {
                by_example.entry(i).or_default().push(x.to_string());
            }
        }
        let share = |n: usize| n as f64 >= OWN_SHARE * content.len() as f64;
        by_example.into_values().find(|ws| ws.len() > MAX_OWN_WORDS && share(ws.len()))
    }

    /// The first defect of `instruction`, if any.
    pub(crate) fn check(&self, instruction: &str) -> Option<Defect> {
        if let Some(p) = placeholder(instruction) {
            return Some(Defect::Placeholder(p));
        }
        if self.restates_signature(instruction) {
            return Some(Defect::RestatesSignature);
        }
        if only_questions(instruction) {
            return Some(Defect::AsksQuestion);
        }
        let w = words(instruction);
        if let Some(hit) = w.windows(SHINGLE).find(|win| self.directions.contains(*win)) {
            return Some(Defect::EchoesDirections(hit.join(" ")));
        }
        for n in MIN_QUOTED..=SHINGLE {
            if let Some(hit) = w.windows(n).find(|win| self.needles.contains(*win)) {
                return Some(Defect::QuotesExample(hit.join(" ")));
            }
        }
        self.one_examples_words(&w).map(Defect::SpeaksToOneExample)
    }
}

/// Whether every sentence of `text` ends with a question mark (and there is one at least).
fn only_questions(text: &str) -> bool {
    let mut sentences = 0;
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some(end) = rest.find(['.', '!', '?', '\n']) else { return false };
        let (sentence, mark) = (rest[..end].trim(), &rest[end..end + 1]);
        if !sentence.is_empty() {
            if mark != "?" {
                return false;
            }
            sentences += 1;
        }
        rest = rest[end + 1..].trim_start();
    }
    sentences > 0
}

/// A bracketed run of two or more plain words, like `[role suited to the task]` or `{your name}`.
fn placeholder(text: &str) -> Option<String> {
    for (open, close) in [('[', ']'), ('{', '}')] {
        let mut rest = text;
        while let Some(i) = rest.find(open) {
            let after = &rest[i + open.len_utf8()..];
            let Some(j) = after.find(close) else { break };
            let inner = &after[..j];
            let plain = inner.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '\'');
            if plain && inner.split_whitespace().count() >= 2 && inner.len() <= 60 {
                return Some(format!("{open}{inner}{close}"));
            }
            rest = after;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn example(q: &str) -> Example {
        let fields = json!({"query": q, "label": "card_arrival"}).as_object().unwrap().clone();
        Example::new(fields, &["query"])
    }

    fn guard() -> ProposalGuard {
        let demo = json!({
            "question": "Tom has 3 boxes of 12 glass panels each. How many panels?",
            "reasoning": "To determine the total number of glass panels we multiply 3 by 12.",
            "answer": "36"
        });
        ProposalGuard::new(
            &[example("Are there downsides to using a disposable virtual card?"), example("card not working")],
            [demo.as_object().unwrap()],
        )
    }

    #[test]
    fn a_general_instruction_passes() {
        let g = guard();
        for ok in [
            "Classify the customer's banking query into exactly one of the listed intents.",
            "Solve the problem step by step and end with the final number.",
            "If the card is not working, pick card_not_working.",
            "Answer in the form 'Label: <intent>'.",
        ] {
            assert_eq!(g.check(ok), None, "{ok}");
        }
    }

    #[test]
    fn quoting_a_training_input_is_caught() {
        let d = guard().check("The query to classify is: `are there downsides to using a disposable virtual card?`");
        assert_eq!(d, Some(Defect::QuotesExample("are there downsides to using a".into())));
    }

    #[test]
    fn working_through_a_demo_is_caught() {
        let d = guard().check("To determine the total number of glass panels in the town, multiply.");
        assert_eq!(d, Some(Defect::QuotesExample("to determine the total number of".into())));
    }

    #[test]
    fn short_inputs_count_only_when_quoted_whole_and_long_enough() {
        // "card not working" has three words: too short to count as quoting.
        assert_eq!(guard().check("Use card not working when the card fails."), None);
    }

    #[test]
    fn unfilled_placeholders_are_caught() {
        let g = guard();
        assert_eq!(
            g.check("You are a [role suited to the task] who classifies queries."),
            Some(Defect::Placeholder("[role suited to the task]".into()))
        );
        assert_eq!(g.check("Dear {customer name}, classify."), Some(Defect::Placeholder("{customer name}".into())));
        // Field markers and one-word brackets are not placeholders.
        assert_eq!(g.check("Fill [[ ## answer ## ]] with [number] only."), None);
    }

    #[test]
    fn restating_the_signature_is_caught_once_the_signature_is_known() {
        let sig = Signature::parse("query -> label: enum(card_arrival, card_not_working, lost_card)").unwrap();
        let g = guard().with_signature(&sig);
        for restated in [
            "query -> label: enum(card_arrival, card_not_working, lost_card)",
            "`query -> label`",
            "Input: query -> output: label (enum)",
            "query => label",
        ] {
            assert_eq!(g.check(restated), Some(Defect::RestatesSignature), "{restated}");
        }
        for ok in [
            "Classify the query into one label -> answer with the label only.",
            "Read the query and pick the label that names the customer's problem.",
        ] {
            assert_eq!(g.check(ok), None, "{ok}");
        }
        // Without the signature the guard does not know its words.
        assert_eq!(guard().check("query -> label"), None);
        assert_eq!(Defect::RestatesSignature.to_string(), "only restates the signature");
    }

    #[test]
    fn repeating_the_directions_is_caught() {
        // What qwen0.5b answered when asked again (MIPROv2 kept it as a judge's instruction).
        let echo = "Write a general instruction that fits every input: do not quote, answer or work through any \
                    particular example, do not merely restate the input and output fields, leave no placeholder \
                    to be filled in.";
        let d = guard().check(echo).unwrap();
        assert!(matches!(d, Defect::EchoesDirections(_)), "{d:?}");
        assert!(d.to_string().starts_with("repeats the directions it was given"), "{d}");
        let own = guard().with_directions(&["Answer with the instruction only and make it different from the others."]);
        assert!(matches!(
            own.check("Answer with the instruction only and make it short."),
            Some(Defect::EchoesDirections(_))
        ));
        // Sharing a few words with the directions is fine.
        assert_eq!(guard().check("Give a general answer that fits the question; do not quote the input."), None);
    }

    #[test]
    fn a_proposal_that_only_asks_questions_is_caught() {
        let g = guard();
        for asked in [
            // What MIPROv2's proposer returned for HotpotQA's answer step (seed 0).
            "Based on the information provided, can the model generate a concise observation about the task, the \
             kind of inputs, the form of the outputs, and anything a model must get right?",
            "What is the intent of the query? Which label fits it best?",
        ] {
            assert_eq!(g.check(asked), Some(Defect::AsksQuestion), "{asked}");
        }
        for ok in [
            "Which intent fits the query? Answer with that label only.",
            "Answer the question with a short phrase",
            "Read the facts. If the answer is yes or no, say which.",
        ] {
            assert_eq!(g.check(ok), None, "{ok}");
        }
        assert_eq!(Defect::AsksQuestion.to_string(), "asks a question instead of giving an instruction");
    }

    fn shipped(path: &str, inputs: &[&str]) -> Vec<Example> {
        let file = format!("{}/../../examples/{path}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&file).unwrap();
        text.lines().map(|l| Example::new(serde_json::from_str(l).unwrap(), inputs)).collect()
    }

    #[test]
    fn several_words_of_one_training_input_are_caught() {
        let mut train: Vec<Example> = (0..12).map(|i| example(&format!("where is my card number {i}"))).collect();
        train.push(example("Which courtesan had a birthday party for the duke in Lisbon?"));
        let g = ProposalGuard::new(&train, std::iter::empty());
        let d = g.check("Name the courtesan whose birthday the duke attended.");
        assert_eq!(d, Some(Defect::SpeaksToOneExample(vec!["birthday".into(), "courtesan".into(), "duke".into()])));
        assert_eq!(g.check("Name the courtesan whose birthday is asked for."), None, "two words only");
        // The same words in a long general text are a small share of it.
        let long = "Read the question and the paragraphs with care, find the person or thing it names, follow \
                    each link the question makes between facts, check every date, title and place against the \
                    paragraphs, and answer with a short name; a courtesan, a duke or a birthday may be asked about.";
        assert_eq!(g.check(long), None);
        // With fewer than ten training examples no word counts as one example's own.
        let few = ProposalGuard::new(&train[10..], std::iter::empty());
        assert_eq!(few.check("Name the courtesan whose birthday the duke attended."), None);
        // Nor do the signature's words or the directions'.
        let sig = Signature::parse("courtesan, duke -> birthday").unwrap();
        let g = ProposalGuard::new(&train, std::iter::empty()).with_signature(&sig);
        assert_eq!(g.check("Name the courtesan whose birthday the duke attended."), None);
    }

    #[test]
    fn on_the_shipped_data_paraphrases_of_one_input_are_caught_and_real_instructions_pass() {
        let hotpot = shipped("hotpotqa/data/train.jsonl", &["question", "context"]);
        let g = ProposalGuard::new(&hotpot, std::iter::empty());
        // Proposals seen in the GEPA benchmark runs (bench/results/optimize).
        let paraphrase = "Provide the full name of the actress, courtesan, or mistress whose birthday is asked \
                          for, and then proceed with the rest of the instruction.";
        let words = ["birthday", "courtesan", "mistress"].map(String::from).to_vec();
        assert_eq!(g.check(paraphrase), Some(Defect::SpeaksToOneExample(words)));
        let copied = "Identify the number of different schools that the university where Andrew J. Elliot is a \
                      professor of psychology has.";
        assert!(matches!(g.check(copied), Some(Defect::QuotesExample(_))), "{copied}");
        for ok in [
            "Answer the question from the facts. Give only the answer, as short as possible: a name, a place, a \
             date, a number, or yes or no, copied from the facts where it appears there; not a sentence.",
            "The question needs two facts, usually from two different paragraphs: one about the thing the question \
             names, and one about the thing that fact leads to. Copy from the paragraphs the two or three sentences \
             that hold these facts, each after its paragraph's title. Copy the sentences exactly; do not answer the \
             question.",
            "The task requires the step to extract two facts from a paragraph and then combine them to form a new \
             statement. The specific format for extracting the facts and combining them is not provided in the \
             examples. Therefore, the new instruction should be written in such a way that it can be applied to \
             any given paragraph and generate a new statement based on the extracted facts.",
            "Provide two facts, usually from different paragraphs, based on the given context.",
        ] {
            assert_eq!(g.check(ok), None, "{ok}");
        }
        let banking = ProposalGuard::new(&shipped("banking77/data/train.jsonl", &["query"]), std::iter::empty());
        for ok in [
            "Classify the online-banking customer query into one of the 77 intents, but clarify the difference \
             between 'virtual_disposable_cards' and 'disposable_card_limits' by explicitly asking the model to \
             distinguish between these two intents.",
            "Classify the online-banking customer query into one of the 77 intents, including 'failed_transfer', \
             'declined_cash_withdrawal', 'card_not_working', and any other relevant intents.",
        ] {
            assert_eq!(banking.check(ok), None, "{ok}");
        }
        let gsm = ProposalGuard::new(&shipped("gsm8k/data/gsm8k/train.jsonl", &["question"]), std::iter::empty());
        let ok = "Solve the math word problem step by step, including all necessary calculations. Clearly define \
                  the variables and their values. Ensure that the student understands the order of operations and \
                  how to handle each step of the problem. Provide the final numeric answer after performing all the \
                  calculations.";
        assert_eq!(gsm.check(ok), None);
    }
}
