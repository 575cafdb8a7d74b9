#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::serve::run("orderservice", orderservice::from_env).await
}
