fn main() -> std::process::ExitCode {
    common::serve::main("orderservice", orderservice::from_env)
}
