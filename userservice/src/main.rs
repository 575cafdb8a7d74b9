#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::serve::run("userservice", userservice::from_env).await
}
