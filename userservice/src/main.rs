fn main() -> std::process::ExitCode {
    common::serve::main("userservice", userservice::from_env)
}
