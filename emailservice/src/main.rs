fn main() -> std::process::ExitCode {
    common::serve::main("emailservice", emailservice::from_env)
}
