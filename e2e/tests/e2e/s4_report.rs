//! S4: a CPU-bound report on a blocking thread.

use std::time::Duration;

use e2e::spawn_system;
use serde_json::json;

#[tokio::test]
async fn generate_report_works_for_the_configured_duration_and_answers_the_hash() {
    let system = spawn_system().await;
    let configured = system.options().report_duration;

    let reply = system.post(&system.report, "/generate_report", json!({})).await;

    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert!(
        reply.elapsed >= configured,
        "took {:?}, configured {configured:?}",
        reply.elapsed
    );
    let hash = reply.body["report_hash"].as_str().expect("a report_hash");
    assert_eq!(hash.len(), 64);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(
        reply.body["iterations"].as_u64().is_some_and(|n| n > 1000),
        "{:?}",
        reply.body
    );
}

#[tokio::test]
async fn health_answers_at_once_while_a_report_is_computed() {
    let system = spawn_system().await;
    let report = system.post(&system.report, "/generate_report", json!({}));

    let health = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        e2e::send(system.http.get(system.report.url_for("/health"))).await
    };
    let (report, health) = tokio::join!(report, health);

    assert_eq!(report.status, 200);
    assert_eq!(health.status, 200);
    assert_eq!(health.body, json!({"status": "ok"}));
    assert!(
        health.elapsed < Duration::from_millis(500),
        "health took {:?}",
        health.elapsed
    );
}
