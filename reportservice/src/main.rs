#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::serve::run("reportservice", reportservice::from_env).await
}
