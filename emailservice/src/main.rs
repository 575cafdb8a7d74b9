#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::serve::run("emailservice", emailservice::from_env).await
}
