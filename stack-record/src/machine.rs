//! The machine a run or a calibration was made on, as both `meta.json` and the ceiling file record
//! it: a module of its own so that both can name it without naming each other.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: u32,
    pub memory_bytes: u64,
    pub kernel: String,
    pub cpu_model: String,
}
