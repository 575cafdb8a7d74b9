#[tokio::main]
async fn main() -> std::process::ExitCode {
    common::serve::run("searchservice", searchservice::from_env).await
}
