//! S6: the cheapest possible ingestion endpoint.

use e2e::spawn_system;
use serde_json::json;

#[tokio::test]
async fn track_click_answers_tracked() {
    let system = spawn_system().await;

    let reply = system
        .post(
            &system.analytics,
            "/track_click",
            json!({"user_id": 123, "page": "homepage"}),
        )
        .await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!({"status": "tracked"}));
}

#[tokio::test]
async fn a_burst_of_clicks_is_all_tracked() {
    let system = spawn_system().await;

    let replies = crate::helpers::all_at_once(500, |i| {
        system.post(
            &system.analytics,
            "/track_click",
            json!({"user_id": i, "page": format!("page-{i}")}),
        )
    })
    .await;

    assert!(replies.iter().all(|reply| reply.status == 200));
}

#[tokio::test]
async fn every_service_answers_health() {
    let system = spawn_system().await;
    for service in system.services() {
        let reply = e2e::send(system.http.get(service.url_for("/health"))).await;
        assert_eq!(
            (service.name(), reply.status, reply.body),
            (service.name(), 200, json!({"status": "ok"}))
        );
    }
}
