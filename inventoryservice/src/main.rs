fn main() -> std::process::ExitCode {
    common::serve::main("inventoryservice", inventoryservice::from_env)
}
