//! `LmRoles`: which model plays which role in an optimization run.
//!
//! In a config file the `task` table is the base; `teacher`, `proposer` and `judge` tables
//! override only the fields they name (e.g. just `model`) and fall back to `task` entirely
//! when absent:
//!
//! ```toml
//! [task]
//! base_url = "http://127.0.0.1:8088"
//! model = "qwen0.5b"
//! [teacher]
//! model = "qwen1.5b"
//! ```

use crate::config::LmConfig;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;

/// A role a model plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LmRole {
    /// Runs the program being optimized.
    Task,
    /// Produces demonstrations (bootstrapping).
    Teacher,
    /// Proposes instructions.
    Proposer,
    /// Grades outputs (LM-as-judge metrics).
    Judge,
}

impl LmRole {
    /// All roles.
    pub const ALL: [LmRole; 4] = [LmRole::Task, LmRole::Teacher, LmRole::Proposer, LmRole::Judge];

    /// Lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            LmRole::Task => "task",
            LmRole::Teacher => "teacher",
            LmRole::Proposer => "proposer",
            LmRole::Judge => "judge",
        }
    }
}

impl fmt::Display for LmRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LmRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LmRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role '{s}' (expected task, teacher, proposer or judge)"))
    }
}

/// Model configs per role; unset roles use `task`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct LmRoles {
    /// The task model (also the fallback of every other role).
    pub task: LmConfig,
    /// Teacher model, if different.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teacher: Option<LmConfig>,
    /// Instruction-proposer model, if different.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposer: Option<LmConfig>,
    /// Judge model, if different.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<LmConfig>,
}

impl LmRoles {
    /// Every role played by `task`.
    pub fn single(task: LmConfig) -> Self {
        Self { task, ..Self::default() }
    }

    /// The config for `role` (falling back to `task`).
    pub fn get(&self, role: LmRole) -> &LmConfig {
        let specific = match role {
            LmRole::Task => None,
            LmRole::Teacher => self.teacher.as_ref(),
            LmRole::Proposer => self.proposer.as_ref(),
            LmRole::Judge => self.judge.as_ref(),
        };
        specific.unwrap_or(&self.task)
    }

    /// Sets the config of `role`.
    pub fn set(&mut self, role: LmRole, config: LmConfig) {
        match role {
            LmRole::Task => self.task = config,
            LmRole::Teacher => self.teacher = Some(config),
            LmRole::Proposer => self.proposer = Some(config),
            LmRole::Judge => self.judge = Some(config),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoles {
    #[serde(default)]
    task: Option<serde_json::Value>,
    #[serde(default)]
    teacher: Option<serde_json::Value>,
    #[serde(default)]
    proposer: Option<serde_json::Value>,
    #[serde(default)]
    judge: Option<serde_json::Value>,
}

impl<'de> Deserialize<'de> for LmRoles {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawRoles::deserialize(d)?;
        let base = raw.task.unwrap_or_else(|| serde_json::Value::Object(Default::default()));
        let parse = |role: &str, v: serde_json::Value| {
            serde_json::from_value::<LmConfig>(v).map_err(|e| D::Error::custom(format!("[{role}]: {e}")))
        };
        let overlay = |role: &str, v: Option<serde_json::Value>| -> Result<Option<LmConfig>, D::Error> {
            let Some(v) = v else { return Ok(None) };
            let mut merged = base.clone();
            match (&mut merged, v) {
                (serde_json::Value::Object(m), serde_json::Value::Object(o)) => m.extend(o),
                (_, other) => merged = other,
            }
            parse(role, merged).map(Some)
        };
        Ok(Self {
            teacher: overlay("teacher", raw.teacher)?,
            proposer: overlay("proposer", raw.proposer)?,
            judge: overlay("judge", raw.judge)?,
            task: parse("task", base.clone())?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn overlays_fall_back_to_task() {
        let roles: LmRoles = serde_json::from_str(
            r#"{"task": {"base_url": "http://h:1", "model": "small", "max_tokens": 64},
                "teacher": {"model": "big"}}"#,
        )
        .unwrap();
        assert_eq!(roles.get(LmRole::Task).model, "small");
        let teacher = roles.get(LmRole::Teacher);
        assert_eq!((teacher.model.as_str(), teacher.base_url.as_str(), teacher.max_tokens), ("big", "http://h:1", 64));
        assert_eq!(roles.get(LmRole::Judge), &roles.task);
        assert!(serde_json::from_str::<LmRoles>(r#"{"teacher": {"modle": "x"}}"#).is_err());
        assert!(serde_json::from_str::<LmRoles>(r#"{"critic": {}}"#).is_err());
        assert_eq!("judge".parse::<LmRole>().unwrap(), LmRole::Judge);
    }
}
