#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::serve::run("paymentservice", paymentservice::from_env).await
}
