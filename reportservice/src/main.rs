fn main() -> std::process::ExitCode {
    common::serve::main("reportservice", reportservice::from_env)
}
