//! Nothing waits forever, and no process takes another's work (docs/reliability.md): a frozen
//! database, two order-service processes on one database, a saga that loses its order to recovery,
//! and reports beyond the configured number.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use e2e::{service_process::ServiceProcess, spawn_system_with, Options, RunningService, System};
use orderservice::compensation::Recovery;
use reportservice::ReportLimits;
use serde_json::json;
use stack_system::{plan::DatabaseSpec, postgres::Cluster};

use crate::helpers::{eventually, in_flight_order_of, inventory_of, order_statuses};

/// A PostgreSQL cluster of this test's own, so that stopping it stops no other test's database.
struct PrivateCluster {
    cluster: Cluster,
    dir: PathBuf,
}

impl PrivateCluster {
    fn start() -> Self {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target"))
            .join(format!("test-postgres-frozen-{}", std::process::id()));
        let port = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
            Ok(addr) => addr.port(),
            Err(err) => panic!("no free port: {err}"),
        };
        let spec = DatabaseSpec {
            user: "postgres".into(),
            password: "postgres".into(),
            name: "postgres".into(),
        };
        match Cluster::start(&dir, port, &spec) {
            Ok(cluster) => Self { cluster, dir },
            Err(err) => panic!("the private cluster did not start: {err:#}"),
        }
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres:postgres@127.0.0.1:{}/postgres",
            self.cluster.port()
        )
    }

    /// The postmaster and every process it started: the whole server.
    fn processes(&self) -> Vec<libc::pid_t> {
        let Some(postmaster) = self.cluster.postmaster_pid() else {
            panic!("the private cluster has no postmaster");
        };
        let mut pids = vec![postmaster as libc::pid_t];
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return pids;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // The parent is the second field after the command, which is in parentheses.
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|ppid| ppid.parse::<u32>().ok());
            if parent == Some(postmaster) {
                pids.push(pid as libc::pid_t);
            }
        }
        pids
    }

    fn signal(&self, signal: libc::c_int) {
        for pid in self.processes() {
            // SAFETY: kill has no memory effects; the pids are this test's own server's.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let _ = self.cluster.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the client saw of one request during the freeze.
#[derive(Debug)]
struct Answer {
    what: &'static str,
    status: u16,
    elapsed: Duration,
}

async fn timed(what: &'static str, request: reqwest::RequestBuilder) -> Answer {
    let started = Instant::now();
    let status = match request.timeout(Duration::from_secs(60)).send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    };
    Answer {
        what,
        status,
        elapsed: started.elapsed(),
    }
}

const FREEZE: Duration = Duration::from_secs(12);
/// The route deadline S3 and S5 are promised, plus what a loaded 2-core machine adds.
const ROUTE_DEADLINE_AND_SLACK: Duration = Duration::from_millis(10_700);

#[tokio::test]
async fn with_the_database_frozen_every_request_is_answered_within_its_deadline_and_all_recovers() {
    // Given the whole system on a PostgreSQL of its own, under S3 and S5 load
    let cluster = PrivateCluster::start();
    let options = Options {
        database_server: Some(cluster.url()),
        recovery: Recovery {
            interval: Duration::from_millis(500),
            idle_after: Duration::from_secs(3),
        },
        ..Options::default()
    };
    let system = spawn_system_with(options).await;
    let (_, reserved_before) = inventory_of(&system, 1).await;
    let order = || {
        system
            .http
            .post(system.order.url_for("/create_order"))
            .json(&json!({"product_id": 1, "quantity": 1}))
    };
    let update = || {
        system
            .http
            .put(system.product.url_for("/products/2"))
            .json(&json!({"name": "Frozen", "stock": 50}))
    };
    let load = async {
        let mut answers = Vec::new();
        let started = Instant::now();
        // Each request is a task of its own, so that it is sent now, not when it is first awaited.
        let mut requests = Vec::new();
        while started.elapsed() < FREEZE + Duration::from_secs(1) {
            requests.push(tokio::spawn(timed("S5", order())));
            requests.push(tokio::spawn(timed("S3", update())));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        for request in requests {
            answers.push(request.await.expect("the request's task"));
        }
        answers
    };
    let health = async {
        let mut slowest = Duration::ZERO;
        let started = Instant::now();
        while started.elapsed() < FREEZE {
            for service in [&system.order, &system.product, &system.inventory] {
                let answer = timed("health", system.http.get(service.url_for("/health"))).await;
                assert_eq!(answer.status, 200, "{} /health: {answer:?}", service.name());
                slowest = slowest.max(answer.elapsed);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        slowest
    };

    // When every PostgreSQL process is stopped for the freeze, the load going on, then continued
    let freeze = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cluster.signal(libc::SIGSTOP);
        tokio::time::sleep(FREEZE).await;
        cluster.signal(libc::SIGCONT);
    };
    let (answers, slowest_health, ()) = tokio::join!(load, health, freeze);

    // Then every request was answered within its route's deadline, and /health throughout
    let longest = answers
        .iter()
        .map(|answer| answer.elapsed)
        .max()
        .unwrap_or_default();
    let statuses: std::collections::BTreeMap<(&str, u16), usize> =
        answers.iter().fold(Default::default(), |mut counts, answer| {
            *counts.entry((answer.what, answer.status)).or_default() += 1;
            counts
        });
    eprintln!(
        "frozen {FREEZE:?}: {} requests, longest answer {longest:?}, slowest /health {slowest_health:?}, \
         outcomes {statuses:?}",
        answers.len()
    );
    for answer in &answers {
        assert!(answer.status != 0, "no answer: {answer:?}");
        assert!(answer.elapsed <= ROUTE_DEADLINE_AND_SLACK, "too slow: {answer:?}");
    }
    assert!(
        answers
            .iter()
            .any(|answer| answer.status == 503 || answer.status == 504),
        "the freeze was not felt: {statuses:?}"
    );
    // And after it, with no restart, every service serves again and recovery leaves nothing behind
    assert!(
        eventually(30, || async {
            timed("S5", order()).await.status == 400 && timed("S3", update()).await.status == 200
        })
        .await,
        "the services did not serve again"
    );
    assert!(
        eventually(30, || async {
            order_statuses(&system)
                .await
                .iter()
                .all(|(_, status)| status == "failed")
                && inventory_of(&system, 1).await.1 == reserved_before
        })
        .await,
        "orders left unfinished {:?} or stock reserved {:?}",
        order_statuses(&system).await,
        inventory_of(&system, 1).await
    );
}

/// The leases held on the system's database, each an order-service process.
async fn leases(system: &System) -> Vec<i32> {
    let orders = system.tables_of("orderservice").await;
    sqlx::query_scalar(
        "SELECT objid::int8::int4 FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid::int8 = $1
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
         ORDER BY objid",
    )
    .bind(i64::from(orderservice::lease::LEASE_CLASS))
    .fetch_all(&orders)
    .await
    .expect("the leases")
}

async fn order_service_process(system: &System) -> ServiceProcess {
    let url = system.database.url();
    let inventory = system.inventory.url().to_string();
    let payment = system.payment.url().to_string();
    ServiceProcess::start(
        "orderservice",
        &[
            ("DATABASE_URL", url.as_str()),
            ("INVENTORY_SERVICE_URL", inventory.as_str()),
            ("PAYMENT_SERVICE_URL", payment.as_str()),
            ("RECOVERY_INTERVAL_MS", "200"),
            ("RECOVERY_IDLE_AFTER_MS", "60000"),
        ],
    )
    .await
}

#[tokio::test]
async fn a_second_order_service_leaves_a_live_ones_order_alone_and_takes_it_once_that_one_is_gone() {
    // Given order-service process A, with an order in flight (its stock reserved)
    let system = spawn_system_with(Options::default()).await;
    let before = leases(&system).await;
    let a = order_service_process(&system).await;
    let a_lease = leases(&system)
        .await
        .into_iter()
        .find(|lease| !before.contains(lease))
        .expect("A's lease");
    let (_, reserved_before) = inventory_of(&system, 8).await;
    let order_id = in_flight_order_of(&system, a_lease, 8, 2).await;

    // When process B starts and sweeps many times (every 200 ms, orders idle a minute)
    let b = order_service_process(&system).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Then B (and the harness's own order service) leave A's order alone
    assert_eq!(order_statuses(&system).await, [(order_id, "pending".to_owned())]);
    assert_eq!(inventory_of(&system, 8).await.1, reserved_before + 2);

    // And when A is killed, B takes its order over and gives the stock back
    drop(a);
    assert!(
        eventually(10, || async {
            order_statuses(&system).await == [(order_id, "failed".to_owned())]
        })
        .await,
        "A's order was not taken over: {:?}",
        order_statuses(&system).await
    );
    assert_eq!(inventory_of(&system, 8).await.1, reserved_before);
    drop(b);
}

#[tokio::test]
async fn with_the_approving_payment_path_an_order_recovery_ended_is_never_answered_201() {
    // Given the approving payment path (2 s) and a recovery that counts an order idle after 300 ms
    let system = spawn_system_with(Options {
        payment_path: "/process_payment",
        recovery: Recovery {
            interval: Duration::from_millis(100),
            idle_after: Duration::from_millis(300),
        },
        ..Options::default()
    })
    .await;

    // When an order's saga waits on its payment while recovery ends the order
    let reply = system
        .post(
            &system.order,
            "/create_order",
            json!({"product_id": 9, "quantity": 1}),
        )
        .await;

    // Then it is not answered as completed, and the order is indeed not completed
    assert_ne!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.status, 409, "{:?}", reply.body);
    let statuses = order_statuses(&system).await;
    assert!(
        statuses.iter().all(|(_, status)| status != "completed"),
        "{statuses:?}"
    );
}

/// One report at a time: on a 2-core machine the other core is left for serving /health.
fn report_limits() -> ReportLimits {
    ReportLimits {
        duration: Duration::from_millis(1_500),
        concurrency: 1,
        queue: 2,
        queue_wait: Duration::from_millis(1_600),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reports_at_once_hash_at_most_the_configured_number_and_health_stays_quick() {
    // Given a report service that hashes one report at a time, with two places in its queue
    let report = RunningService::start("reportservice", reportservice::app_within(report_limits())).await;
    let http = reqwest::Client::new();

    // When twenty reports are asked for at once, /health being asked throughout
    let reports = futures::future::join_all((0..20).map(|_| async {
        let started = Instant::now();
        let response = http
            .post(report.url_for("/generate_report"))
            .send()
            .await
            .expect("an answer");
        let retry_after = response.headers().get("retry-after").cloned();
        (response.status().as_u16(), retry_after, started.elapsed())
    }));
    let health = async {
        let mut slowest = Duration::ZERO;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(4) {
            let asked = Instant::now();
            let response = http.get(report.url_for("/health")).send().await.expect("health");
            assert_eq!(response.status(), 200);
            slowest = slowest.max(asked.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        slowest
    };
    let (answers, slowest_health) = tokio::join!(reports, health);

    // Then one hashed, then the first queued once it was done; the rest were told to come back
    let ok: Vec<Duration> = answers
        .iter()
        .filter(|(status, _, _)| *status == 200)
        .map(|(_, _, elapsed)| *elapsed)
        .collect();
    let busy = answers.iter().filter(|(status, _, _)| *status == 503).count();
    eprintln!(
        "20 reports: {} answered 200 (after {ok:?}), {busy} answered 503, slowest /health {slowest_health:?}",
        ok.len()
    );
    assert_eq!(ok.len() + busy, 20, "{answers:?}");
    assert!(
        answers
            .iter()
            .filter(|(status, _, _)| *status == 503)
            .all(|(_, retry_after, _)| retry_after.is_some()),
        "a 503 without Retry-After"
    );
    let first_round = ok
        .iter()
        .filter(|elapsed| **elapsed < Duration::from_millis(2_900))
        .count();
    assert!(first_round <= 2, "more than two reports hashed at once: {ok:?}");
    assert!(ok.len() >= 2, "{answers:?}");
    assert!(
        slowest_health < Duration::from_millis(100),
        "health took {slowest_health:?}"
    );
}

#[tokio::test]
async fn a_report_whose_client_has_gone_frees_its_place_within_a_second() {
    // Given a report service that hashes one report at a time, for 3 s
    let limits = ReportLimits {
        duration: Duration::from_secs(3),
        concurrency: 1,
        queue: 1,
        queue_wait: Duration::from_secs(10),
    };
    let report = RunningService::start("reportservice", reportservice::app_within(limits)).await;
    let http = reqwest::Client::new();

    // When a client gives up on its report after 200 ms, and another asks for one at once after
    let gone = http
        .post(report.url_for("/generate_report"))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(gone.is_err(), "the first report was not cut off");
    let started = Instant::now();
    let next = http
        .post(report.url_for("/generate_report"))
        .send()
        .await
        .expect("the second report");

    // Then the second hashes at once after the first stopped: its 3 s plus at most one second
    assert_eq!(next.status(), 200);
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(4),
        "the abandoned report kept its place: the next took {elapsed:?}"
    );
}
