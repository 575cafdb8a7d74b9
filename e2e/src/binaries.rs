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
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| option_env!("CARGO").unwrap_or("cargo").into());
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    stack_system::process::build_release_binaries(root, &cargo).map_err(|err| format!("{err:#}"))?;
    Ok(target.join("release"))
}
