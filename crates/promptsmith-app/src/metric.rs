//! Metrics as jobs name them: a built-in id or a metric spec file, the output field it scores,
//! and the labels it needs.

use crate::error::{invalid, AppError, Result};
use promptsmith_core::{Example, Program};
use promptsmith_eval::MetricSpec;
use std::path::Path;

/// A `metric` value: a built-in id (checked now, so a typo fails before any model call), or a
/// metric spec file (`.yaml`, `.yml`, `.json`).
pub fn metric_spec(arg: &str) -> Result<MetricSpec> {
    let path = Path::new(arg);
    let is_file_name = [".yaml", ".yml", ".json"].iter().any(|ext| arg.to_ascii_lowercase().ends_with(ext));
    if is_file_name {
        if !path.is_file() {
            return Err(AppError::not_found(format!("--metric {arg}: no such metric spec file")));
        }
        return MetricSpec::from_file(path).map_err(|e| AppError::from(e).context("--metric"));
    }
    promptsmith_eval::metric_by_name(arg, "answer").map_err(|e| AppError::from(e).context("--metric"))?;
    Ok(MetricSpec { metric: Some(arg.to_string()), ..Default::default() })
}

/// The output field a metric compares: `field`, else `answer`, else the program's last output.
pub fn metric_field(program: &Program, field: Option<&str>) -> Result<String> {
    let outputs = program.output_fields();
    let field = match field {
        Some(f) => f.to_string(),
        None if outputs.iter().any(|o| o == "answer") => "answer".to_string(),
        None => outputs.last().cloned().unwrap_or_else(|| "answer".into()),
    };
    if !outputs.contains(&field) {
        invalid!("--field '{field}' is not an output of program '{}' (outputs: {})", program.name, outputs.join(", "));
    }
    Ok(field)
}

/// Fails when the first example lacks a label the metric needs.
pub fn check_labels(spec: &MetricSpec, field: &str, data: &str, first: Option<&Example>) -> Result<()> {
    let Some(first) = first else { return Ok(()) };
    for label in spec.required_labels(field) {
        if first.get(&label).is_none() {
            invalid!(
                "--data {data}: examples have no '{label}' label for the metric to compare (they have: {})",
                first.fields.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(())
}
