//! The machine a run or a calibration was made on, as both `meta.json` and the ceiling file record
//! it: a module of its own so that both can name it without naming each other.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: u32,
    pub memory_bytes: u64,
    pub kernel: String,
    pub cpu_model: String,
    /// `/proc/loadavg`'s 1, 5 and 15 minute averages when the record began: how busy the machine
    /// already was. `None` in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_average: Option<[f64; 3]>,
    /// The CPU frequency governor (`cpufreq`'s `scaling_governor`), or the governors of the CPUs
    /// joined by `,` where they differ; `None` where the kernel exposes none (many virtual
    /// machines) and in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_governor: Option<String>,
    /// Whether simultaneous multithreading is active (`/sys/devices/system/cpu/smt/active`): two
    /// "cores" may then be one core's two threads. `None` where unknown and in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smt_active: Option<bool>,
}
