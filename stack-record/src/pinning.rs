//! `meta.json`'s `cpus`: the CPUs the load generator and the system were pinned to, in `taskset`'s
//! list syntax, and the parsing of `--cpus` into it (`stack-study`'s `bench::pinning` pins).

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

/// The CPUs each side was pinned to, in `taskset`'s list syntax (`0`, `0-1`, `0,2`); `None`: free to
/// run anywhere. For `meta.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuPinning {
    pub generator: Option<String>,
    pub system: Option<String>,
}

impl CpuPinning {
    /// `--cpus`: `generator=LIST` and/or `system=LIST`, each at most once, every CPU one this machine
    /// has, and no CPU in both.
    pub fn parse(items: &[String], cores: u32) -> Result<Self> {
        let mut pinning = Self::default();
        for item in items {
            let (side, list) = item
                .split_once('=')
                .with_context(|| format!("--cpus {item:?}: expected generator=CPUS or system=CPUS"))?;
            let cpus = cpu_list(list).with_context(|| format!("--cpus {item:?}"))?;
            if let Some(beyond) = cpus.iter().find(|cpu| **cpu >= cores) {
                bail!("--cpus {item:?}: CPU {beyond} is not one of this machine's {cores}");
            }
            let slot = match side {
                "generator" => &mut pinning.generator,
                "system" => &mut pinning.system,
                other => bail!("--cpus {item:?}: {other} is neither generator nor system"),
            };
            ensure!(slot.is_none(), "--cpus: {side} given twice");
            *slot = Some(list.to_owned());
        }
        if let (Some(generator), Some(system)) = (&pinning.generator, &pinning.system) {
            let (generator, system) = (cpu_list(generator)?, cpu_list(system)?);
            if let Some(shared) = generator.iter().find(|cpu| system.contains(cpu)) {
                bail!("--cpus: CPU {shared} is given to both the generator and the system");
            }
        }
        Ok(pinning)
    }

    /// Whether both sides were pinned, apart: the run was isolated.
    pub fn isolated(&self) -> bool {
        self.generator.is_some() && self.system.is_some()
    }
}

/// The CPUs of a `taskset` list: numbers and ranges, comma-separated.
fn cpu_list(list: &str) -> Result<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let number = |text: &str| {
            text.trim()
                .parse::<u32>()
                .with_context(|| format!("{list:?} is not a CPU list (such as 0, 0-1 or 0,2)"))
        };
        match part.split_once('-') {
            Some((low, high)) => {
                let (low, high) = (number(low)?, number(high)?);
                ensure!(low <= high, "{list:?}: the range {part} is empty");
                cpus.extend(low..=high);
            }
            None => cpus.push(number(part)?),
        }
    }
    Ok(cpus)
}
