//! The release binaries, as a user runs them. They are built on first use (a no-op when
//! `cargo build --release` is up to date), next to this test binary's own `target/release`.

use std::{path::PathBuf, sync::OnceLock};

/// The path of the release binary `name`, built if needed.
pub fn release_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT.get_or_init(build_release_binaries);
    match dir {
        Ok(dir) => dir.join(name),
        Err(err) => panic!("{err}"),
    }
}

fn build_release_binaries() -> Result<PathBuf, String> {
    // This test runs from target/<profile>/deps/; the binaries are in target/release/.
    let exe = std::env::current_exe().map_err(|err| err.to_string())?;
    let target = exe
        .ancestors()
        .nth(3)
        .ok_or_else(|| format!("{} is not inside a target folder", exe.display()))?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| option_env!("CARGO").unwrap_or("cargo").to_owned());
    let status = std::process::Command::new(cargo)
        .args(["build", "--release", "--workspace", "--bins"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .map_err(|err| format!("could not run cargo build: {err}"))?;
    if !status.success() {
        return Err("cargo build --release --workspace --bins failed".into());
    }
    Ok(target.join("release"))
}
