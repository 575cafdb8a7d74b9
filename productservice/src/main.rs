fn main() -> std::process::ExitCode {
    common::serve::main("productservice", productservice::from_env)
}
