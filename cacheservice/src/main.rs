#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::serve::run("cacheservice", cacheservice::from_env).await
}
