//! `GET /metrics`: each service's own request, downstream-call and pool metrics, in the Prometheus
//! text format, read back with the bench's own parser.

use e2e::{spawn_system, RunningService, System};
use serde_json::json;
use stack_study::hops::Metrics;

const UPDATE: [(&str, &str); 3] = [
    ("method", "PUT"),
    ("route", "/products/{product_id}"),
    ("status", "200"),
];

async fn scrape(system: &System, service: &RunningService) -> Metrics {
    let response = match system.http.get(service.url_for("/metrics")).send().await {
        Ok(response) => response,
        Err(err) => panic!("GET /metrics of {}: {err}", service.name()),
    };
    assert_eq!(response.status(), 200, "{} has no /metrics", service.name());
    let text = response.text().await.unwrap_or_default();
    match Metrics::parse(&text) {
        Ok(metrics) => metrics,
        Err(err) => panic!("{} serves unreadable metrics: {err:#}\n{text}", service.name()),
    }
}

async fn update_products(system: &System, times: usize) {
    for id in 1..=times {
        let reply = system
            .put(&system.product, &format!("/products/{id}"), json!({"stock": 5}))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
}

#[tokio::test]
async fn after_s3_traffic_the_product_service_times_its_route_and_each_downstream_call_by_target() {
    // Given the system
    let system = spawn_system().await;

    // When three products are updated
    update_products(&system, 3).await;

    // Then the product service counts three updates under the route template, and three calls
    // to each fan-out target, each labelled with the target, its path and `ok`
    let metrics = scrape(&system, &system.product).await;
    assert_eq!(
        metrics.sum("http_server_request_duration_seconds_count", &UPDATE),
        3.0
    );
    assert_eq!(
        metrics.sum(
            "http_server_request_duration_seconds_bucket",
            &[UPDATE[0], UPDATE[1], UPDATE[2], ("le", "+Inf")]
        ),
        3.0
    );
    for (server, route) in [
        ("searchservice", "/reindex"),
        ("cacheservice", "/invalidate_cache"),
        ("analyticsservice", "/log_update"),
    ] {
        let labels = [("server", server), ("route", route), ("outcome", "ok")];
        assert_eq!(
            metrics.sum("http_client_request_duration_seconds_count", &labels),
            3.0,
            "calls to {server}"
        );
        assert!(metrics.sum("http_client_request_duration_seconds_sum", &labels) > 0.0);
    }
}

#[tokio::test]
async fn each_service_counts_only_the_requests_it_answered() {
    // Given the system, after one product update
    let system = spawn_system().await;
    update_products(&system, 1).await;

    // When the search service's metrics are read
    let search = scrape(&system, &system.search).await;

    // Then they hold its one /reindex and none of the product service's requests or calls
    let reindex = [("method", "POST"), ("route", "/reindex"), ("status", "200")];
    assert_eq!(
        search.sum("http_server_request_duration_seconds_count", &reindex),
        1.0
    );
    assert_eq!(
        search.sum("http_server_request_duration_seconds_count", &UPDATE),
        0.0
    );
    assert_eq!(search.sum("http_client_request_duration_seconds_count", &[]), 0.0);
}

#[tokio::test]
async fn the_scrape_is_not_counted_in_the_request_metrics() {
    // Given a service that has answered nothing but scrapes
    let system = spawn_system().await;
    scrape(&system, &system.analytics).await;

    // When it is scraped again
    let metrics = scrape(&system, &system.analytics).await;

    // Then no request was counted, under /metrics or any other route
    assert_eq!(
        metrics.sum("http_server_request_duration_seconds_count", &[]),
        0.0
    );
}

#[tokio::test]
async fn a_declined_payment_is_counted_as_an_error_status_of_the_payment_call() {
    // Given the system
    let system = spawn_system().await;

    // When an order is placed (and its payment declined, as in S5)
    let reply = system
        .post(
            &system.order,
            "/create_order",
            json!({"product_id": 1, "quantity": 1}),
        )
        .await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);

    // Then the order service counts one payment call that ended in an error status, and ok calls
    // to the inventory service (reserve, then compensate)
    let metrics = scrape(&system, &system.order).await;
    let payment = [("server", "paymentservice"), ("outcome", "error_status")];
    assert_eq!(
        metrics.sum("http_client_request_duration_seconds_count", &payment),
        1.0
    );
    let inventory = [("server", "inventoryservice"), ("outcome", "ok")];
    assert_eq!(
        metrics.sum("http_client_request_duration_seconds_count", &inventory),
        2.0
    );
}

#[tokio::test]
async fn a_request_that_uses_the_database_records_its_wait_for_a_connection() {
    // Given the system
    let system = spawn_system().await;

    // When two products are updated
    update_products(&system, 2).await;

    // Then the product service recorded at least one pool wait per update, and reports its pool
    let metrics = scrape(&system, &system.product).await;
    assert!(metrics.sum("db_client_connection_wait_time_seconds_count", &[]) >= 2.0);
    let pool = [("pool_name", "productservice")];
    assert!(metrics.sum("db_client_connection_count", &pool) >= 1.0);
}

#[tokio::test]
async fn the_metrics_include_the_process_cpu_time_and_resident_memory() {
    // Given the system
    let system = spawn_system().await;

    // When a service is scraped
    let metrics = scrape(&system, &system.email).await;

    // Then the process's CPU time and memory are there
    // (A process that has used less than one clock tick of CPU reports 0 s, so only presence is checked.)
    let names: Vec<&str> = metrics.0.iter().map(|sample| sample.name.as_str()).collect();
    assert!(names.contains(&"process_cpu_seconds_total"), "{names:?}");
    assert!(metrics.sum("process_resident_memory_bytes", &[]) > 1_000_000.0);
}
