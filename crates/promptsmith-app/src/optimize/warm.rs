//! `--warm-start`: related programs' registered versions (or spec files), loaded and matched
//! to the program's predictors by their fields, before any model call.

use crate::error::{AppError, Result};
use crate::program::{self, ProgramSource, StoreTarget};
use promptsmith_core::Program;
use promptsmith_optimize::optimizers::warm::WarmStart;

/// The warm starts `refs` name; an error names the one that cannot be loaded or matches no
/// predictor.
pub(crate) async fn load(refs: &[String], program: &Program, store: &StoreTarget) -> Result<Vec<WarmStart>> {
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let related = program::load(&ProgramSource::parse(r), None, store)
            .await
            .map_err(|e| e.context(format!("--warm-start {r}")))?;
        let Some(warm) = WarmStart::matching(r, program, &related) else {
            let shapes: Vec<String> = program
                .predictors
                .iter()
                .map(|p| format!("{}: {}", p.name, p.signature.to_signature_string()))
                .collect();
            return Err(AppError::invalid(format!(
                "--warm-start {r}: none of its predictors has the same fields (names and types) as one of this program's ({})",
                shapes.join("; ")
            )));
        };
        out.push(warm);
    }
    Ok(out)
}
