#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::serve::run("analyticsservice", analyticsservice::from_env).await
}
