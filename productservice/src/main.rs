#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::serve::run("productservice", productservice::from_env).await
}
