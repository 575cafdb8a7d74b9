fn main() -> std::process::ExitCode {
    common::serve::main("paymentservice", paymentservice::from_env)
}
