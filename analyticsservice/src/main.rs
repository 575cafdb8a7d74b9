fn main() -> std::process::ExitCode {
    common::serve::main("analyticsservice", analyticsservice::from_env)
}
