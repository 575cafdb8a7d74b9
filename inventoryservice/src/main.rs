#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::serve::run("inventoryservice", inventoryservice::from_env).await
}
