fn main() -> std::process::ExitCode {
    common::serve::main("cacheservice", cacheservice::from_env)
}
