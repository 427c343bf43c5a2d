use super::*;
use std::fs;
use tempfile::TempDir;

fn write(dir: &TempDir, name: &str, content: &str) -> PathBuf {
    let path = dir.path().join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&path, content).unwrap();
    path
}

fn err_text(r: Result<Dataset>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn loads_jsonl_with_blank_lines_and_crlf() {
    let dir = TempDir::new().unwrap();
    let p = write(
        &dir,
        "d.jsonl",
        "{\"question\": \"a?\", \"answer\": \"1\"}\r\n\n{\"question\": \"b?\", \"answer\": 2}\n",
    );
    let ds = Dataset::load(&p, &["question"]).unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds.examples()[0].get_text("question").as_deref(), Some("a?"));
    assert_eq!(ds.examples()[1].get_text("answer").as_deref(), Some("2"));
    assert_eq!(ds.examples()[0].input_keys, vec!["question".to_string()]);
    assert_eq!(ds.examples()[0].labels().len(), 1);
    assert_eq!(ds.content_hash(), sha256_hex(&fs::read(&p).unwrap()));
    assert_eq!(ds.content_hash().len(), 64);
    assert_eq!(ds.name(), p.display().to_string());
}

#[test]
fn jsonl_errors_name_file_line_and_field() {
    let dir = TempDir::new().unwrap();
    let p = write(&dir, "data.jsonl", "{\"question\": \"a\"}\n{\"q\": \"b\"}\n");
    assert_eq!(err_text(Dataset::load(&p, &["question"])), format!("{} line 2: field 'question' missing", p.display()));

    let p = write(&dir, "null.jsonl", "{\"question\": null}\n");
    assert_eq!(err_text(Dataset::load(&p, &["question"])), format!("{} line 1: field 'question' is null", p.display()));

    let p = write(&dir, "bad.jsonl", "{\"question\": \"a\"}\n\n{\"question\": \"b\",}\n");
    assert_eq!(
        err_text(Dataset::load(&p, &["question"])),
        format!("{} line 3: invalid JSON at col 18: trailing comma", p.display())
    );

    let p = write(&dir, "arr.jsonl", "[1, 2]\n");
    assert_eq!(
        err_text(Dataset::load(&p, &["question"])),
        format!("{} line 1: expected a JSON object, found an array", p.display())
    );

    let p = write(&dir, "empty.jsonl", "\n\n");
    assert_eq!(err_text(Dataset::load(&p, &["question"])), format!("{}: no examples found", p.display()));

    let p = dir.path().join("bin.jsonl");
    fs::write(&p, b"{\"question\": \"a\"}\n{\"question\": \"\xff\"}\n").unwrap();
    assert_eq!(err_text(Dataset::load(&p, &["question"])), format!("{} line 2: not valid UTF-8", p.display()));

    let missing = dir.path().join("missing.jsonl");
    assert!(err_text(Dataset::load(&missing, &["question"])).starts_with(&format!("{}: ", missing.display())));

    let p = write(&dir, "data.txt", "x");
    assert_eq!(
        err_text(Dataset::load(&p, &["question"])),
        format!("{}: unknown data format: expected a .jsonl, .ndjson, .json, .csv or .tsv file", p.display())
    );
}

#[test]
fn loads_json_array_and_wrapped_lists() {
    let dir = TempDir::new().unwrap();
    let p = write(&dir, "a.json", r#"[{"input": "x", "target": "y"}, {"input": "z", "target": "w"}]"#);
    assert_eq!(Dataset::load(&p, &["input"]).unwrap().len(), 2);

    let p = write(&dir, "bbh.json", r#"{"canary": "c", "examples": [{"input": "x", "target": "y"}]}"#);
    let ds = Dataset::load(&p, &["input"]).unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(ds.examples()[0].get_text("target").as_deref(), Some("y"));

    // An unconventional key is accepted when it is the only list of objects.
    let p = write(&dir, "other.json", r#"{"meta": 1, "questions": [{"input": "x"}]}"#);
    assert_eq!(Dataset::load(&p, &["input"]).unwrap().len(), 1);

    // A .json file holding JSON Lines.
    let p = write(&dir, "lines.json", "{\"input\": \"x\"}\n{\"input\": \"y\"}\n");
    assert_eq!(Dataset::load(&p, &["input"]).unwrap().len(), 2);
}

#[test]
fn json_errors() {
    let dir = TempDir::new().unwrap();
    let p = write(&dir, "data.json", "{\"examples\": [\n  {\"input\": \"x\"},\n  {\"input\": }\n]}");
    assert_eq!(
        err_text(Dataset::load(&p, &["input"])),
        format!("{}: invalid JSON at line 3 col 13: expected value", p.display())
    );

    let p = write(&dir, "data2.json", r#"{"examples": [{"input": "x"}, {"other": 1}]}"#);
    assert_eq!(
        err_text(Dataset::load(&p, &["input"])),
        format!("{} $.examples[1]: field 'input' missing", p.display())
    );

    let p = write(&dir, "data3.json", r#"[{"input": "x"}, "oops"]"#);
    assert_eq!(
        err_text(Dataset::load(&p, &["input"])),
        format!("{} $[1]: expected a JSON object, found a string", p.display())
    );

    let p = write(&dir, "data4.json", r#"{"canary": "c", "count": 3}"#);
    assert_eq!(
        err_text(Dataset::load(&p, &["input"])),
        format!(
            "{}: expected a JSON array of objects, or an object with a list of objects under 'examples' \
             (found keys: canary, count)",
            p.display()
        )
    );

    let p = write(&dir, "data5.json", "42");
    assert_eq!(
        err_text(Dataset::load(&p, &["input"])),
        format!("{}: expected a JSON array of objects or an object, found a number", p.display())
    );
}

#[test]
fn loads_csv_and_tsv() {
    let dir = TempDir::new().unwrap();
    let p = write(
        &dir,
        "d.csv",
        "text,category\nHow do I locate my card?,card_arrival\n\"I still, have not\",card_arrival\n",
    );
    let ds = Dataset::load(&p, &["text"]).unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds.examples()[1].get_text("text").as_deref(), Some("I still, have not"));
    assert_eq!(ds.examples()[1].get_text("category").as_deref(), Some("card_arrival"));

    let p = write(&dir, "d.tsv", "\u{feff}q\ta\nx\t1\n");
    let ds = Dataset::load(&p, &["q"]).unwrap();
    assert_eq!(ds.examples()[0].get("a"), Some(&serde_json::Value::String("1".into())));
}

#[test]
fn csv_errors() {
    let dir = TempDir::new().unwrap();
    let p = write(&dir, "data.csv", "text,category\na,b\n");
    assert_eq!(
        err_text(Dataset::load(&p, &["question"])),
        format!("{} line 1: column 'question' missing from header (found: text, category)", p.display())
    );

    let p = write(&dir, "ragged.csv", "text,category\na,b\nc,d\ne\n");
    assert_eq!(err_text(Dataset::load(&p, &["text"])), format!("{} line 4: expected 2 fields, found 1", p.display()));

    let p = write(&dir, "dup.csv", "text,text\na,b\n");
    assert_eq!(err_text(Dataset::load(&p, &["text"])), format!("{} line 1: duplicate column 'text'", p.display()));

    let p = write(&dir, "header_only.csv", "text,category\n");
    assert_eq!(err_text(Dataset::load(&p, &["text"])), format!("{}: no examples found", p.display()));
}

fn numbered(n: usize) -> Dataset {
    let examples =
        (0..n).map(|i| promptsmith_core::Example::default().with("i", i as u64).with_inputs(&["i"])).collect();
    Dataset::from_examples("nums", examples)
}

fn ids(ds: &Dataset) -> Vec<u64> {
    ds.iter().map(|e| e.get("i").and_then(|v| v.as_u64()).unwrap()).collect()
}

#[test]
fn shuffle_is_deterministic_and_a_permutation() {
    let a = numbered(50).shuffle(42);
    let b = numbered(50).shuffle(42);
    let c = numbered(50).shuffle(43);
    assert_eq!(ids(&a), ids(&b));
    assert_ne!(ids(&a), ids(&c));
    assert_ne!(ids(&a), (0..50).collect::<Vec<_>>());
    let mut sorted = ids(&a);
    sorted.sort();
    assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    assert_eq!(a.transforms(), ["shuffle(seed=42)"]);
    // Pinned order: guards against silent changes in the RNG or shuffle algorithm.
    assert_eq!(ids(&numbered(8).shuffle(1)), PINNED_SHUFFLE_8_SEED_1);
}

const PINNED_SHUFFLE_8_SEED_1: [u64; 8] = [3, 5, 7, 6, 1, 0, 2, 4];

#[test]
fn split_take_skip() {
    let (train, dev) = numbered(10).split(0.7, 3);
    assert_eq!((train.len(), dev.len()), (7, 3));
    let mut all = ids(&train);
    all.extend(ids(&dev));
    assert_eq!(all, ids(&numbered(10).shuffle(3)));
    assert_eq!(train.transforms(), ["shuffle(seed=3)", "split(0.7).first"]);
    assert_eq!(dev.transforms(), ["shuffle(seed=3)", "split(0.7).second"]);
    assert_eq!(train.content_hash(), dev.content_hash());

    let (all, none) = numbered(4).split(2.0, 0);
    assert_eq!((all.len(), none.len()), (4, 0));

    let ds = numbered(10).skip(2).take(3);
    assert_eq!(ids(&ds), vec![2, 3, 4]);
    assert_eq!(numbered(2).take(5).len(), 2);
    let m = ds.manifest();
    assert_eq!(m.examples, 3);
    assert_eq!(m.transforms, vec!["skip(2)".to_string(), "take(3)".to_string()]);
    assert_eq!(m.path, None);
}

#[test]
fn from_examples_hash_depends_on_content() {
    assert_eq!(numbered(3).content_hash(), numbered(3).content_hash());
    assert_ne!(numbered(3).content_hash(), numbered(4).content_hash());
}

// ---- named datasets ----

const GSM_ROWS: &str = concat!(
    r#"{"question": "Q1?", "answer": "2 + 2 = <<2+2=4>>4\n#### 4"}"#,
    "\n",
    r#"{"question": "Q2?", "answer": "Total is <<1000+234=1234>>1,234 dollars.\n#### 1,234"}"#,
    "\n"
);

#[test]
fn resolves_known_dataset_with_split() {
    let dir = TempDir::new().unwrap();
    write(&dir, "gsm8k/test.jsonl", GSM_ROWS);
    write(&dir, "gsm8k/train.jsonl", GSM_ROWS);
    let search = DataSearchPath::new([dir.path().to_path_buf()]);

    let r = search.resolve("gsm8k").unwrap();
    assert_eq!(r.name, "gsm8k:test");
    assert_eq!(r.path, dir.path().join("gsm8k/test.jsonl"));
    let ds = r.load(None).unwrap();
    assert_eq!(ds.name(), "gsm8k:test");
    assert_eq!(ds.len(), 2);
    let e = &ds.examples()[1];
    assert_eq!(e.input_keys, vec!["question".to_string()]);
    assert_eq!(e.get_text("answer").as_deref(), Some("1234"));
    assert_eq!(e.get_text("rationale").as_deref(), Some("Total is 1,234 dollars."));

    let r = search.resolve("gsm8k:train").unwrap();
    assert_eq!(r.path, dir.path().join("gsm8k/train.jsonl"));
    assert_eq!(r.split.as_deref(), Some("train"));

    assert_eq!(
        search.resolve("gsm8k:dev").unwrap_err().to_string(),
        "dataset 'gsm8k' has no split 'dev' (available: test, train)"
    );
}

#[test]
fn adapter_row_errors_have_locations() {
    let dir = TempDir::new().unwrap();
    let p = write(&dir, "gsm8k/test.jsonl", &format!("{GSM_ROWS}{{\"question\": \"Q3\", \"answer\": \"42\"}}\n"));
    let search = DataSearchPath::new([dir.path().to_path_buf()]);
    assert_eq!(
        search.resolve("gsm8k:test").unwrap().load(None).unwrap_err().to_string(),
        format!("{} line 3: field 'answer' has no '#### <number>' marker", p.display())
    );
}

#[test]
fn search_order_and_template_splits() {
    let first = TempDir::new().unwrap();
    let second = TempDir::new().unwrap();
    write(&second, "bbh/snarks.json", r#"{"examples": [{"input": "x", "target": "(A)"}]}"#);
    write(&second, "bbh/web_of_lies.json", r#"{"examples": [{"input": "x", "target": "Yes"}]}"#);
    write(&first, "mine.csv", "q,a\nx,1\n");
    write(&second, "mine.jsonl", "{\"q\": \"x\"}\n");
    let search = DataSearchPath::new([first.path().to_path_buf(), second.path().to_path_buf()]);

    let ds = search.resolve("bbh:snarks").unwrap().load(None).unwrap();
    assert_eq!(ds.examples()[0].input_keys, vec!["input".to_string()]);
    assert_eq!(ds.name(), "bbh:snarks");

    assert_eq!(
        search.resolve("bbh").unwrap_err().to_string(),
        "dataset 'bbh' needs a split: use bbh:<split> (available: snarks, web_of_lies)"
    );
    assert_eq!(
        search.resolve("bbh:nope").unwrap_err().to_string(),
        "dataset 'bbh' has no split 'nope' (available: snarks, web_of_lies)"
    );

    // First directory wins.
    assert_eq!(search.resolve("mine").unwrap().path, first.path().join("mine.csv"));
    // Plain files need input keys.
    assert!(search.resolve("mine").unwrap().load(None).unwrap_err().to_string().contains("no input keys given"));
    assert_eq!(search.resolve("mine").unwrap().load(Some(&["q"])).unwrap().len(), 1);
}

#[test]
fn generic_folders_and_splits() {
    let dir = TempDir::new().unwrap();
    write(&dir, "one/only.jsonl", "{\"q\": \"x\"}\n");
    write(&dir, "two/train.jsonl", "{\"q\": \"x\"}\n");
    write(&dir, "two/test.csv", "q\nx\n");
    let search = DataSearchPath::new([dir.path().to_path_buf()]);
    assert_eq!(search.resolve("one").unwrap().path, dir.path().join("one/only.jsonl"));
    assert_eq!(search.resolve("two:test").unwrap().path, dir.path().join("two/test.csv"));
    assert_eq!(
        search.resolve("two").unwrap_err().to_string(),
        "dataset 'two' needs a split: use two:<split> (available: test, train)"
    );
}

#[test]
fn existing_path_wins_and_not_found_says_where() {
    let dir = TempDir::new().unwrap();
    let p = write(&dir, "x.jsonl", "{\"q\": \"x\"}\n");
    let search = DataSearchPath::new([dir.path().join("data")]);
    let shown = p.display().to_string();
    assert_eq!(search.resolve(&shown).unwrap().path, p);
    let err = search.resolve("nothing").unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "dataset 'nothing' not found: not an existing file; looked for nothing, nothing.jsonl, nothing.json, \
             nothing.csv, nothing.tsv, nothing.ndjson in {}",
            dir.path().join("data").display()
        )
    );
    let err = search.resolve("gsm8k").unwrap_err().to_string();
    assert_eq!(
        err,
        format!("dataset 'gsm8k:test' not found: looked for gsm8k/test.jsonl in {}", dir.path().join("data").display())
    );
}

#[test]
fn from_env_uses_data_dir_variable() {
    // The only test that touches the variable.
    let dir = TempDir::new().unwrap();
    write(&dir, "gsm8k/test.jsonl", GSM_ROWS);
    std::env::set_var(DATA_DIR_ENV, dir.path());
    let search = DataSearchPath::from_env(&[PathBuf::from("examples/x/data")]);
    std::env::remove_var(DATA_DIR_ENV);
    assert_eq!(search.dirs()[0].label, "$PROMPTSMITH_DATA_DIR");
    assert_eq!(search.dirs().last().map(|d| d.label.as_str()), Some("examples/x/data"));
    assert_eq!(search.resolve("gsm8k").unwrap().path, dir.path().join("gsm8k/test.jsonl"));
}

/// Loads the real benchmark data when the checkout has it (`../shared/data` beside the repo).
#[test]
fn real_shared_data_when_present() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if !shared.is_dir() {
        return;
    }
    let search = DataSearchPath::new([shared]);
    let gsm = search.resolve("gsm8k:test").unwrap().load(None).unwrap();
    assert_eq!(gsm.len(), 1319);
    assert_eq!(gsm.examples()[0].get_text("answer").as_deref(), Some("18"));
    assert!(gsm.iter().all(|e| e.get_text("answer").is_some_and(|a| a.parse::<f64>().is_ok())));
    assert!(gsm.iter().all(|e| !e.get_text("rationale").unwrap_or_default().contains("<<")));
    assert_eq!(search.resolve("banking77").unwrap().load(None).unwrap().len(), 3080);
    assert_eq!(search.resolve("bbh:snarks").unwrap().load(None).unwrap().examples()[0].input_keys, ["input"]);
    let hotpot = search.resolve("hotpotqa:distractor").unwrap().load(Some(&["question", "context"])).unwrap();
    assert!(hotpot.examples()[0].get_text("context").is_some_and(|c| c.contains("VIVA Media: ")));
    assert_eq!(search.resolve("math500").unwrap().load(None).unwrap().len(), 500);
}
