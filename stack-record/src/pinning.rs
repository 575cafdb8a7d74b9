//! `meta.json`'s `cpus`: the CPUs the load generator and the system were pinned to, in `taskset`'s
//! list syntax, and the parsing of `--cpus` into it (`stack-study`'s `bench::pinning` pins).
//!
//! By default (`--cpus auto`) a machine that lets `stack` run on at least two CPUs keeps the load
//! generator apart from the system: k6 gets the last of those CPUs and a local system the others, so
//! that neither's figure is the other starving it (issue 30). A system `stack` does not start
//! (compose, URLs) is not pinned by it, so there only k6 is. `--cpus none` leaves both free.

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

/// The CPUs each side was pinned to, in `taskset`'s list syntax (`0`, `0-1`, `0,2`); `None`: free to
/// run anywhere. For `meta.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuPinning {
    pub generator: Option<String>,
    pub system: Option<String>,
    /// Chosen by `--cpus auto` rather than given (`false` in older records).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auto: bool,
}

/// What `--cpus` was given: `auto`, `none`, or each side's CPU list.
pub const AUTO: &str = "auto";
pub const NONE: &str = "none";

impl CpuPinning {
    /// `--cpus`: `auto` (see the module's paragraph; `pins_system`: whether `stack` starts the
    /// system, so can pin it), `none`, or `generator=LIST` and/or `system=LIST`, each at most once,
    /// every CPU one of `allowed` (the CPUs `stack` may run on), and no CPU in both.
    pub fn parse(items: &[String], allowed: &[u32], pins_system: bool) -> Result<Self> {
        match items {
            [only] if only == AUTO => return Ok(Self::auto(allowed, pins_system)),
            [only] if only == NONE => return Ok(Self::default()),
            _ => {}
        }
        ensure!(
            !items.iter().any(|item| item == AUTO || item == NONE),
            "--cpus: auto and none stand alone, not beside generator= or system="
        );
        let mut pinning = Self::default();
        for item in items {
            let (side, list) = item
                .split_once('=')
                .with_context(|| format!("--cpus {item:?}: expected generator=CPUS or system=CPUS"))?;
            let cpus = cpu_list(list).with_context(|| format!("--cpus {item:?}"))?;
            if let Some(beyond) = cpus.iter().find(|cpu| !allowed.contains(cpu)) {
                bail!("--cpus {item:?}: CPU {beyond} is not one this process may run on ({allowed:?})");
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

    /// `--cpus auto` on the CPUs `allowed`: the last for k6, the rest for the system where `stack`
    /// starts it; nothing pinned with fewer than two.
    fn auto(allowed: &[u32], pins_system: bool) -> Self {
        let Some((generator, rest)) = allowed.split_last().filter(|(_, rest)| !rest.is_empty()) else {
            return Self::default();
        };
        let list = |cpus: &[u32]| cpus.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        Self {
            generator: Some(generator.to_string()),
            system: pins_system.then(|| list(rest)),
            auto: true,
        }
    }

    /// Whether both sides were pinned, apart: the run was isolated.
    pub fn isolated(&self) -> bool {
        self.generator.is_some() && self.system.is_some()
    }
}

/// The CPUs of a `taskset` list: numbers and ranges, comma-separated.
pub fn cpu_list(list: &str) -> Result<Vec<u32>> {
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
