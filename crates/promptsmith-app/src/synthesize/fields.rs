//! The fields a synthesized row holds: the program's inputs, and those of its outputs that the
//! seeds label, with the types and descriptions the program's predictors give them.

use crate::error::{invalid, Result};
use promptsmith_core::adapter::coerce::coerce_value;
use promptsmith_core::program::Source;
use promptsmith_core::signature::{Field, FieldType};
use promptsmith_core::{Example, Program};

/// One field of a synthesized row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DataField {
    /// Name, type and description.
    pub(crate) field: Field,
    /// Whether the program reads it (else it is a label).
    pub(crate) input: bool,
}

/// An input's field as the first step reading it declares it.
fn input_field(program: &Program, name: &str) -> Field {
    let declared = program.steps.iter().find_map(|s| {
        let (slot, _) = s.inputs.iter().find(|(_, src)| matches!(src, Source::Example(f) if f == name))?;
        program.predictor(&s.predictor)?.signature.inputs.iter().find(|f| &f.name == slot).cloned()
    });
    match declared {
        Some(f) => Field { name: name.to_string(), ..f },
        None => Field::new(name, FieldType::Str),
    }
}

/// An output's field as the predictor producing it declares it.
fn output_field(program: &Program, name: &str, source: &Source) -> Field {
    let declared = match source {
        Source::Step { predictor, field } => program
            .predictor(predictor)
            .and_then(|p| p.effective_signature().outputs.iter().find(|f| &f.name == field).cloned()),
        Source::Example(_) => None,
    };
    match declared {
        Some(f) => Field { name: name.to_string(), ..f },
        None => Field::new(name, FieldType::Str),
    }
}

/// The row's fields: every program input, then the outputs the first seed labels. Errors when
/// no output is labelled.
pub(crate) fn data_fields(program: &Program, seeds: &[Example], seeds_name: &str) -> Result<Vec<DataField>> {
    let Some(first) = seeds.first() else {
        invalid!("--seeds {seeds_name}: no examples");
    };
    let mut fields: Vec<DataField> = program
        .input_fields()
        .iter()
        .map(|name| DataField { field: input_field(program, name), input: true })
        .collect();
    for (name, source) in &program.outputs {
        if first.get(name).is_some() {
            fields.push(DataField { field: output_field(program, name, source), input: false });
        }
    }
    if fields.iter().all(|f| f.input) {
        invalid!(
            "--seeds {seeds_name}: the seeds label none of the program's outputs ({}); their fields: {}",
            program.output_fields().join(", "),
            first.fields.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(fields)
}

/// Checks that every seed has every field with a value of its type; errors name the row.
pub(crate) fn check_seeds(fields: &[DataField], seeds: &[Example], seeds_name: &str) -> Result<()> {
    for (i, seed) in seeds.iter().enumerate() {
        for f in fields {
            let name = &f.field.name;
            let Some(value) = seed.get(name) else {
                invalid!("--seeds {seeds_name}: example {}: field '{name}' is missing", i + 1);
            };
            if let Err(why) = coerce_value(value, &f.field.ty) {
                invalid!("--seeds {seeds_name}: example {}: field '{name}': {why}", i + 1);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use promptsmith_core::signature::Signature;
    use promptsmith_core::Predictor;
    use serde_json::json;

    fn program() -> Program {
        Program::single(Predictor::new("classify", Signature::parse("query -> label: enum(refund, card)").unwrap()))
    }

    fn seed(v: &serde_json::Value) -> Example {
        Example::new(v.as_object().unwrap().clone(), &["query"])
    }

    #[test]
    fn fields_are_the_inputs_and_the_labelled_outputs_with_their_types() {
        let fields = data_fields(&program(), &[seed(&json!({"query": "q", "label": "card"}))], "s.jsonl").unwrap();
        assert_eq!(fields.len(), 2);
        assert!(fields[0].input && fields[0].field.name == "query");
        assert_eq!(fields[1].field.ty, FieldType::Enum(vec!["refund".into(), "card".into()]));
    }

    #[test]
    fn seeds_without_labels_or_with_bad_values_are_refused_by_row() {
        let e = data_fields(&program(), &[seed(&json!({"query": "q"}))], "s.jsonl").unwrap_err();
        assert!(e.to_string().contains("label none of the program's outputs (label)"), "{e}");
        let seeds = [seed(&json!({"query": "q", "label": "card"})), seed(&json!({"query": "r", "label": "loan"}))];
        let fields = data_fields(&program(), &seeds, "s.jsonl").unwrap();
        let e = check_seeds(&fields, &seeds, "s.jsonl").unwrap_err();
        assert!(e.to_string().contains("--seeds s.jsonl: example 2: field 'label'"), "{e}");
    }
}
