fn main() -> std::process::ExitCode {
    common::serve::main("searchservice", searchservice::from_env)
}
