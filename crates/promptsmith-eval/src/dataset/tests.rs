use super::*;
use serde_json::Value;
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

#[test]
fn splits_are_seeded_disjoint_and_cover_the_data() {
    let parts = numbered(10).splits(0.6, 0.2, 0.2, 5).unwrap();
    assert_eq!((parts.train.len(), parts.val.len(), parts.test.len()), (6, 2, 2));
    let mut all = ids(&parts.train);
    all.extend(ids(&parts.val));
    all.extend(ids(&parts.test));
    // The parts are the seed's shuffle, cut in order.
    assert_eq!(all, ids(&numbered(10).shuffle(5)));
    assert_eq!(parts, numbered(10).splits(0.6, 0.2, 0.2, 5).unwrap());
    assert_ne!(ids(&parts.train), ids(&numbered(10).splits(0.6, 0.2, 0.2, 6).unwrap().train));
    assert_eq!(parts.val.transforms(), ["shuffle(seed=5)", "splits(train=0.6, val=0.2, test=0.2).val"]);
    // Places follow their examples through the shuffle.
    let first = &parts.train.examples()[0];
    let i = first.get("i").and_then(|v| v.as_u64()).unwrap() as usize;
    assert_eq!(parts.train.place(0), Some(format!("example {}", i + 1)));

    // Fractions adding up to 1 use every example (rounding goes to test); less than 1 leaves some out.
    let parts = numbered(7).splits(0.5, 0.25, 0.25, 1).unwrap();
    assert_eq!((parts.train.len(), parts.val.len(), parts.test.len()), (4, 2, 1));
    let parts = numbered(10).splits(0.5, 0.0, 0.2, 1).unwrap();
    assert_eq!((parts.train.len(), parts.val.len(), parts.test.len()), (5, 0, 2));

    assert_eq!(
        numbered(3).splits(0.8, 0.3, 0.0, 1).unwrap_err().to_string(),
        "nums: split fractions train=0.8, val=0.3, test=0 should each be between 0 and 1 and add up to at most 1"
    );
    assert!(numbered(3).splits(-0.1, 0.3, 0.0, 1).is_err());
    assert!(numbered(3).splits(f64::NAN, 0.3, 0.0, 1).is_err());
}

#[test]
fn duplicates_report_places_and_conflicts() {
    let dir = TempDir::new().unwrap();
    let p = write(
        &dir,
        "d.jsonl",
        concat!(
            "{\"q\": \"a\", \"a\": \"1\"}\n",
            "{\"q\": \"b\", \"a\": \"2\"}\n",
            "{\"q\": \"c\", \"a\": \"3\"}\n",
            "{\"q\": \" a \", \"a\": \"1\"}\n",
            "{\"q\": \"b\", \"a\": \"9\"}\n",
            "{\"q\": \"a\", \"a\": \"1\"}\n",
        ),
    );
    let ds = Dataset::load(&p, &["q"]).unwrap();
    let dups = ds.duplicates();
    assert_eq!(dups.repeated(), 3);
    assert_eq!(
        dups.groups,
        vec![
            DuplicateGroup {
                places: vec!["line 1".into(), "line 4".into(), "line 6".into()],
                conflicting_labels: false
            },
            DuplicateGroup { places: vec!["line 2".into(), "line 5".into()], conflicting_labels: true },
        ]
    );
    assert_eq!(
        dups.summary(1),
        "3 examples repeat the inputs of an earlier one (2 groups, 1 with different labels): \
         line 1 = line 4 = line 6; 1 more"
    );
    assert!(numbered(5).duplicates().is_empty());
    assert_eq!(numbered(5).duplicates().summary(3), "no duplicate inputs");
}

#[test]
fn readiness_counts_labelled_examples() {
    let dir = TempDir::new().unwrap();
    let p = write(&dir, "d.csv", "question,answer\nq1,1\nq2,\nq3,  \nq4,4\n");
    let ds = Dataset::load_with(
        &p,
        &LoadOptions { inputs: vec!["question".into()], labels: vec!["answer".into()], ..LoadOptions::default() },
    )
    .unwrap()
    .with_name("mine");
    assert_eq!(ds.labelled_count(), 2);
    assert_eq!(ds.check_ready(2).unwrap(), 2);
    assert_eq!(
        ds.check_ready(DEFAULT_MIN_LABELLED).unwrap_err().to_string(),
        "dataset 'mine' is not ready: 2 of its 4 examples are labelled (a labelled example has a value in 'answer'), \
         and at least 50 are needed; add labelled examples, or point the labels at the column that holds them"
    );
    // Without named labels, any non-input value counts.
    let unnamed = Dataset::load(&p, &["question"]).unwrap();
    assert_eq!(unnamed.labelled_count(), 2);
    assert!(unnamed
        .check_ready(3)
        .unwrap_err()
        .to_string()
        .contains("(a labelled example has a value in some field besides its inputs)"));
}

#[test]
fn field_summaries_and_label_distribution() {
    let dir = TempDir::new().unwrap();
    let rows: String = (0..12)
        .map(|i| format!("{{\"text\": \"t{i}\", \"intent\": \"{}\", \"meta\": {i}}}\n", ["a", "b", "b"][i % 3]))
        .collect();
    let p = write(&dir, "d.jsonl", &rows);
    let options = LoadOptions { inputs: vec!["text".into()], labels: vec!["intent".into()], ..LoadOptions::default() };
    let ds = Dataset::load_with(&p, &options).unwrap();
    let summary = ds.field_summaries();
    assert_eq!(
        summary.iter().map(|f| (f.name.as_str(), f.role, f.present, f.kinds.clone())).collect::<Vec<_>>(),
        vec![
            ("text", "input", 12, vec!["string"]),
            ("intent", "label", 12, vec!["string"]),
            ("meta", "other", 12, vec!["number"])
        ]
    );
    assert_eq!(ds.label_distribution("intent"), vec![("b".to_string(), 8), ("a".to_string(), 4)]);
    assert!(ds.is_categorical("intent"));
    assert!(!ds.is_categorical("text"));
}

#[test]
fn column_mapping_renames_and_label_transform() {
    let dir = TempDir::new().unwrap();
    let p = write(
        &dir,
        "d.csv",
        "query,gold,extra\nWhat is 2+2?,The answer is 4.,x\nAnd 3+3?, The answer is 6.,y\nUnlabelled?,,z\n",
    );
    let search = DataSearchPath::new([dir.path().to_path_buf()]);
    let mapping = FieldMapping {
        inputs: vec![ColumnMapping::parse("query=question").unwrap()],
        labels: vec![ColumnMapping::parse("gold=answer").unwrap()],
        label_transform: Some(TransformOp::parse(r"regex:answer is (\d+)").unwrap()),
    };
    let ds = search.resolve(&p.display().to_string()).unwrap().load_mapped(&mapping).unwrap();
    let e = &ds.examples()[1];
    assert_eq!(e.get_text("question").as_deref(), Some("And 3+3?"));
    assert_eq!(e.get_text("answer").as_deref(), Some("6"));
    assert_eq!(e.input_keys, ["question"]);
    assert_eq!(ds.label_keys(), ["answer"]);
    assert_eq!(e.fields.keys().collect::<Vec<_>>(), ["question", "answer", "extra"]);
    // The transform leaves unlabelled rows alone.
    assert_eq!((ds.len(), ds.labelled_count()), (3, 2));

    let bad = FieldMapping { inputs: vec![ColumnMapping::parse("question").unwrap()], ..FieldMapping::default() };
    assert_eq!(
        search.resolve("d").unwrap().load_mapped(&bad).unwrap_err().to_string(),
        format!("{} line 1: column 'question' missing from header (found: query, gold, extra)", p.display())
    );
    let p2 = write(&dir, "e.jsonl", "{\"q\": \"x\", \"a\": \"no number\"}\n");
    let m = FieldMapping {
        inputs: vec![ColumnMapping::parse("q").unwrap()],
        labels: vec![ColumnMapping::parse("a").unwrap()],
        label_transform: Some(TransformOp::parse(r"regex:(\d+)").unwrap()),
    };
    assert_eq!(
        search.resolve(&p2.display().to_string()).unwrap().load_mapped(&m).unwrap_err().to_string(),
        format!(r"{} line 1: field 'a' does not match regex `(\d+)`", p2.display())
    );
    let p3 = write(&dir, "f.jsonl", "{\"q\": \"x\", \"question\": \"y\"}\n");
    let m = FieldMapping { inputs: vec![ColumnMapping::parse("q=question").unwrap()], ..FieldMapping::default() };
    assert_eq!(
        search.resolve(&p3.display().to_string()).unwrap().load_mapped(&m).unwrap_err().to_string(),
        format!(
            "{} line 1: column 'q' is renamed to 'question', but the row also has a 'question' column",
            p3.display()
        )
    );
    assert_eq!(ColumnMapping::parse("a=").unwrap_err().0, "'a=' should be COLUMN or COLUMN=FIELD");
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
    assert_eq!(ds.label_keys(), ["answer"]);

    let r = search.resolve("gsm8k:train").unwrap();
    assert_eq!(r.path, dir.path().join("gsm8k/train.jsonl"));
    assert_eq!(r.split.as_deref(), Some("train"));

    assert_eq!(
        search.resolve("gsm8k:dev").unwrap_err().to_string(),
        "dataset 'gsm8k' has no split 'dev' (available: test, train)"
    );
}

#[test]
fn spec_row_errors_have_locations() {
    let dir = TempDir::new().unwrap();
    let p = write(&dir, "gsm8k/test.jsonl", &format!("{GSM_ROWS}{{\"question\": \"Q3\", \"answer\": \"42\"}}\n"));
    let search = DataSearchPath::new([dir.path().to_path_buf()]);
    assert_eq!(
        search.resolve("gsm8k:test").unwrap().load(None).unwrap_err().to_string(),
        format!("{} line 3: field 'answer' has no '#### <number>' marker", p.display())
    );
}

#[test]
fn task_families_and_search_order() {
    let first = TempDir::new().unwrap();
    let second = TempDir::new().unwrap();
    let rows: String = (0..10).map(|i| format!("{{\"input\": \"x{i}\", \"target\": \"(A)\"}},")).collect();
    write(&second, "bbh/snarks.json", &format!("{{\"examples\": [{}]}}", rows.trim_end_matches(',')));
    write(&first, "mine.csv", "q,a\nx,1\n");
    write(&second, "mine.jsonl", "{\"q\": \"x\"}\n");
    let search = DataSearchPath::new([first.path().to_path_buf(), second.path().to_path_buf()]);

    let ds = search.resolve("bbh/snarks").unwrap().load(None).unwrap();
    assert_eq!(ds.examples()[0].input_keys, vec!["input".to_string()]);
    assert_eq!(ds.name(), "bbh/snarks:all");
    assert_eq!(ds.len(), 10);
    // The older `bbh:<task>` form still works.
    assert_eq!(search.resolve("bbh:snarks").unwrap().name, "bbh/snarks:all");
    // Derived splits: 40/20/40 of the task's examples, seeded by the spec.
    let train = search.resolve("bbh/snarks:train").unwrap().load(None).unwrap();
    let test = search.resolve("bbh/snarks:test").unwrap().load(None).unwrap();
    assert_eq!((train.name(), train.len(), test.len()), ("bbh/snarks:train", 4, 4));
    assert_eq!(train.transforms(), ["shuffle(seed=0)", "splits(train=0.4, val=0.2, test=0.4).train"]);
    assert!(train.iter().all(|e| !test.examples().contains(e)));

    let err = search.resolve("bbh").unwrap_err().to_string();
    assert!(
        err.starts_with("dataset 'bbh' is a family of tasks; no task given: use bbh/<task> (tasks: boolean_expressions, causal_judgement, "),
        "{err}"
    );
    let err = search.resolve("bbh/nope").unwrap_err().to_string();
    assert!(
        err.starts_with("dataset 'bbh' is a family of tasks; it has no task 'nope': use bbh/<task> (tasks: "),
        "{err}"
    );
    let err = search.resolve("bbh/web_of_lies").unwrap_err().to_string();
    assert!(err.starts_with("dataset 'bbh/web_of_lies:all' not found: looked for bbh/web_of_lies.json in "), "{err}");

    // First directory wins.
    assert_eq!(search.resolve("mine").unwrap().path, first.path().join("mine.csv"));
    // Plain files need input keys.
    assert!(search.resolve("mine").unwrap().load(None).unwrap_err().to_string().contains("no input fields given"));
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
        format!(
            "dataset 'gsm8k:test' not found: looked for gsm8k/test.jsonl in {}; the files come from github \
             openai/grade-school-math (MIT): grade_school_math/data/train.jsonl and test.jsonl; put them in a folder \
             gsm8k/ inside a data directory and set $PROMPTSMITH_DATA_DIR to that directory",
            dir.path().join("data").display()
        )
    );
}

#[test]
fn user_spec_file_with_categories_metadata_and_splits() {
    let dir = TempDir::new().unwrap();
    write(&dir, "tickets/categories.json", r#"["billing", "bug", "other"]"#);
    let rows: String = (0..20)
        .map(|i| format!("{{\"body\": \"ticket {i}\", \"label\": {}, \"agent\": \"x\", \"id\": {i}}}\n", i % 3))
        .collect();
    write(&dir, "tickets/all.jsonl", &rows);
    let spec = write(
        &dir,
        "tickets.toml",
        r#"
name = "tickets"
description = "support tickets"
dir = "tickets"
inputs = ["text"]
labels = ["label"]
metadata = ["id"]
categories = "categories.json"

[files]
all = "all.jsonl"

[rename]
body = "text"

[[transform]]
field = "label"
apply = "banking77"

[splits]
from = "all"
seed = 9
train = 0.5
val = 0.25
test = 0.25
"#,
    );
    // The spec file works from any directory: its files are relative to its own folder.
    let search = DataSearchPath::new([]);
    let shown = spec.display().to_string();
    let ds = search.resolve(&shown).unwrap().load(None).unwrap();
    assert_eq!(ds.name(), "tickets:all");
    assert_eq!(ds.len(), 20);
    let e = &ds.examples()[4];
    assert_eq!(e.get_text("text").as_deref(), Some("ticket 4"));
    assert_eq!(e.get_text("label").as_deref(), Some("bug"));
    assert_eq!(e.fields.keys().collect::<Vec<_>>(), ["text", "label", "id"]);
    assert_eq!(ds.categories().map(<[String]>::len), Some(3));
    assert!(ds.is_categorical("label"));

    let train = search.resolve(&format!("{shown}:train")).unwrap().load(None).unwrap();
    let val = search.resolve(&format!("{shown}:val")).unwrap().load(None).unwrap();
    assert_eq!((train.name(), train.len(), val.len()), ("tickets:train", 10, 5));
    assert_eq!(train, ds.clone().splits(0.5, 0.25, 0.25, 9).unwrap().train.with_name("tickets:train"));

    // A spec names its own inputs; --input may replace them but not rename.
    let m = FieldMapping { inputs: vec![ColumnMapping::parse("text=body").unwrap()], ..FieldMapping::default() };
    assert_eq!(
        search.resolve(&shown).unwrap().load_mapped(&m).unwrap_err().to_string(),
        format!(
            "{shown}: dataset 'tickets' has a spec, so its columns cannot be renamed with --input text=body; copy the \
             spec (promptsmith data show tickets --spec) and add a [rename] entry"
        )
    );

    // A bad category is reported with its line.
    write(&dir, "tickets/all.jsonl", "{\"body\": \"t\", \"label\": 7}\n");
    assert_eq!(
        search.resolve(&shown).unwrap().load(None).unwrap_err().to_string(),
        format!(
            "{} line 1: field 'label': category index 7 is out of range (there are 3 categories)",
            dir.path().join("tickets/all.jsonl").display()
        )
    );
    std::fs::remove_file(dir.path().join("tickets/all.jsonl")).unwrap();
    let err = search.resolve(&shown).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "dataset 'tickets:all' not found: {} does not exist (the files of a spec file are relative to its folder, \
             joined with its `dir`)",
            dir.path().join("tickets/all.jsonl").display()
        )
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

/// The samples of the benchmark sets that the repository ships (`tests/data`, laid out as a
/// data directory; see its README for sources and licences). The full sets in `../shared/data`
/// are for benchmarks only, so these tests pass from a plain clone.
fn sample_data() -> DataSearchPath {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    assert!(samples.is_dir(), "{} is missing", samples.display());
    DataSearchPath::new([samples])
}

fn load_sample(search: &DataSearchPath, name: &str) -> Dataset {
    search.resolve(name).unwrap_or_else(|e| panic!("{name}: {e}")).load(None).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_shipped_spec_loads_its_real_data() {
    // Real rows in each set's own format (JSONL, CSV with category names, BBH's JSON, HotpotQA's
    // paragraphs, IFEval's JSON labels), read through the shipped specs.
    let search = sample_data();
    let expected: &[(&str, usize, &[&str], &[&str])] = &[
        ("gsm8k:train", 8, &["question"], &["answer"]),
        ("gsm8k:test", 6, &["question"], &["answer"]),
        ("banking77:train", 21, &["text"], &["category"]),
        ("banking77:test", 32, &["text"], &["category"]),
        ("hotpotqa", 5, &["question", "context"], &["answer"]),
        ("hotpotqa_questions", 10, &["question"], &["answer"]),
        ("ifeval", 38, &["prompt"], &["instruction_id_list", "kwargs"]),
        ("math500", 10, &["problem"], &["answer"]),
    ];
    for (name, n, inputs, labels) in expected {
        let ds = load_sample(&search, name);
        assert_eq!(ds.len(), *n, "{name}");
        assert_eq!(ds.input_keys(), *inputs, "{name}");
        assert_eq!(ds.label_keys(), *labels, "{name}");
        assert_eq!(ds.labelled_count(), *n, "{name}: every example is labelled");
    }

    let gsm = load_sample(&search, "gsm8k:test");
    assert_eq!(gsm.examples()[0].get_text("answer").as_deref(), Some("18"));
    assert!(gsm.iter().all(|e| e.get_text("answer").is_some_and(|a| a.parse::<f64>().is_ok())));
    assert!(gsm.iter().all(|e| !e.get_text("rationale").unwrap_or_default().contains("<<")));
    assert!(gsm.examples()[0].get_text("rationale").is_some_and(|r| r.contains("9 * 2 = $18")));

    let banking = load_sample(&search, "banking77:test");
    assert_eq!(banking.categories().map(<[String]>::len), Some(77));
    assert_eq!(banking.label_distribution("category").len(), 31);

    let hotpot = load_sample(&search, "hotpotqa");
    assert!(hotpot.examples()[0].get_text("context").is_some_and(|c| c.contains("VIVA Media: ")));
    assert_eq!(load_sample(&search, "hotpotqa:train").len(), 2);

    let ifeval = load_sample(&search, "ifeval");
    assert!(ifeval.examples()[0].get("instruction_id_list").is_some_and(Value::is_array));
    assert!(ifeval.examples()[0].get("kwargs").is_some_and(Value::is_array));

    let math = load_sample(&search, "math500");
    assert!(math.iter().all(|e| e.get("level").is_some()));
    let parts: Vec<usize> =
        ["math500:train", "math500:val", "math500:test"].iter().map(|n| load_sample(&search, n).len()).collect();
    assert_eq!(parts, [4, 2, 4]);

    let bbh = builtin_spec("bbh").unwrap().unwrap();
    assert_eq!(search.locate(&bbh).map(|(_, found)| found), Some(3));
    for task in ["boolean_expressions", "snarks", "web_of_lies"] {
        let ds = load_sample(&search, &format!("bbh/{task}"));
        assert_eq!(ds.len(), 10, "bbh/{task}");
        assert_eq!(ds.labelled_count(), 10, "bbh/{task}");
        assert_eq!(load_sample(&search, &format!("bbh/{task}:train")).len(), 4, "bbh/{task}:train");
    }
    let err = search.resolve("bbh/hyperbaton").unwrap_err().to_string();
    assert!(err.contains("looked for bbh/hyperbaton.json in"), "{err}");
}

#[test]
fn real_banking77_checks_every_label() {
    // Each CSV label is one of the 77 category names; a typo would fail the load with its line.
    let search = sample_data();
    let train = load_sample(&search, "banking77:train");
    let cats = train.categories().unwrap().to_vec();
    assert!(train.iter().all(|e| e.get_text("category").is_some_and(|c| cats.contains(&c))));
    let dir = TempDir::new().unwrap();
    let folder = dir.path().join("banking77");
    fs::create_dir_all(&folder).unwrap();
    fs::copy(search.dirs()[0].path.join("banking77/categories.json"), folder.join("categories.json")).unwrap();
    fs::write(folder.join("test.csv"), "text,category\nwhere is my card?,card_arival\n").unwrap();
    let err = DataSearchPath::new([dir.path().to_path_buf()]).resolve("banking77").unwrap().load(None).unwrap_err();
    assert!(err.to_string().contains("line 2") && err.to_string().contains("card_arival"), "{err}");
}
