//! The OpenAPI document and the interactive docs of every service: each document passes the official
//! OpenAPI 3.1 JSON Schema and lists exactly the service's routes, and the docs page works in a real
//! browser, offline.
//!
//! The routes are read with `oas3`, a lenient reader (it accepts a Response Object without its
//! required `description`, for one); validity is judged by `openapi-spec-validator` (PyPI), which
//! checks each document against the schema the OpenAPI Initiative publishes,
//! https://spec.openapis.org/oas/3.1/schema/2022-10-07, shipped inside the package.

use std::{collections::BTreeSet, path::Path, process::Stdio, time::Duration};

use e2e::{spawn_system, RunningService};
use serde_json::Value;

/// Each service's routes, as SPEC.md lists them.
const ROUTES: [(&str, &[&str]); 10] = [
    ("userservice", &["POST /register"]),
    (
        "paymentservice",
        &["POST /process_payment", "POST /process_payment_fail"],
    ),
    ("productservice", &["PUT /products/{product_id}"]),
    ("reportservice", &["POST /generate_report"]),
    ("orderservice", &["POST /create_order"]),
    ("analyticsservice", &["POST /log_update", "POST /track_click"]),
    ("emailservice", &["POST /send_welcome_email"]),
    ("searchservice", &["POST /reindex"]),
    ("cacheservice", &["POST /invalidate_cache"]),
    (
        "inventoryservice",
        &["POST /reserve_stock", "POST /compensate_stock"],
    ),
];

/// Debian's chromium, unless `CHROMIUM` names another.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The validator on PATH (`pip install openapi-spec-validator`), unless `OPENAPI_SPEC_VALIDATOR`
/// names another.
const OPENAPI_SPEC_VALIDATOR: &str = "openapi-spec-validator";

#[tokio::test]
async fn every_service_document_passes_the_official_openapi_3_1_schema() {
    let system = spawn_system().await;
    let validator = std::env::var("OPENAPI_SPEC_VALIDATOR").unwrap_or_else(|_| OPENAPI_SPEC_VALIDATOR.into());
    let folder = std::env::temp_dir().join(format!("e2e-openapi-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&folder).expect("a temporary folder for the documents");
    let mut failures = Vec::new();
    for (name, _) in ROUTES {
        let reply = e2e::send(system.http.get(system.service(name).url_for("/openapi.json"))).await;
        assert_eq!(reply.status, 200, "{name}");
        let path = folder.join(format!("{name}.json"));
        std::fs::write(&path, reply.body.to_string()).expect("the document written");

        // One document per run: the validator stops at the first file that fails.
        let output = tokio::process::Command::new(&validator)
            .args(["--schema", "3.1", "--validation-errors", "all"])
            .arg(&path)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "could not run {validator}: {err}; install it with \
                     `pip install openapi-spec-validator`, or set OPENAPI_SPEC_VALIDATOR to its path"
                )
            });
        let report = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() || report.trim() != format!("{}: OK", path.display()) {
            failures.push(format!(
                "{name}: {report}{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&folder);
    assert!(
        failures.is_empty(),
        "{} of {} documents fail the OpenAPI 3.1 schema:\n{}",
        failures.len(),
        ROUTES.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_service_documents_exactly_its_routes() {
    let system = spawn_system().await;
    for (name, routes) in ROUTES {
        let reply = e2e::send(system.http.get(system.service(name).url_for("/openapi.json"))).await;
        assert_eq!(reply.status, 200, "{name}");

        let spec = match oas3::from_json(reply.body.to_string()) {
            Ok(spec) => spec,
            Err(err) => panic!("{name}: oas3 cannot read the document: {err}"),
        };
        let version = spec.validate_version().map(|version| version.to_string());
        assert_eq!(
            (name, version.ok().as_deref().and_then(|v| v.get(..3))),
            (name, Some("3.1"))
        );
        let documented: BTreeSet<String> = spec
            .operations()
            .map(|(path, method, _)| format!("{method} {path}"))
            .collect();
        let expected: BTreeSet<String> = routes
            .iter()
            .map(|route| (*route).to_owned())
            .chain(["GET /health".to_owned()])
            .collect();
        assert_eq!((name, documented), (name, expected));
        assert_eq!((name, dangling_refs(&reply.body)), (name, Vec::<String>::new()));
    }
}

#[tokio::test]
async fn every_error_status_is_documented_with_the_json_error_contract() {
    let system = spawn_system().await;
    for (name, _) in ROUTES {
        let document = e2e::send(system.http.get(system.service(name).url_for("/openapi.json")))
            .await
            .body;
        let Some(paths) = document["paths"].as_object() else {
            panic!("{name}: the document has no paths");
        };
        for (path, item) in paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                    if status.starts_with('2') {
                        continue;
                    }
                    let schema = &response["content"]["application/json"]["schema"];
                    assert!(
                        mentions_detail(&document, schema),
                        "{name} {method} {path} {status}: the error body does not require `detail`"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn the_docs_page_lists_the_routes_in_a_headless_browser_offline() {
    let service = RunningService::start("analyticsservice", analyticsservice::app()).await;

    let dom = dump_dom(service.url_for("/docs").as_str()).await;

    for path in ["/health", "/log_update", "/track_click"] {
        assert!(
            dom.contains(&format!("data-path=\"{path}\"")),
            "Swagger UI did not list {path}:\n{dom}"
        );
    }
}

/// The page at `url` as the browser's DOM after its scripts have run. Every host name other than
/// the loopback address fails to resolve, so a page that needed a CDN would not render.
async fn dump_dom(url: &str) -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    assert!(
        Path::new(&chromium).exists(),
        "no chromium at {chromium}: install it with `apt-get install chromium`, or set CHROMIUM to its path"
    );
    let profile = std::env::temp_dir().join(format!("e2e-chromium-{}", uuid::Uuid::new_v4()));
    let run = tokio::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            // Lets the page's scripts fetch the document and render it before the DOM is dumped.
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(Duration::from_secs(90), run).await {
        Ok(Ok(output)) => output,
        Ok(Err(err)) => panic!("could not run {CHROMIUM}: {err}"),
        Err(_) => panic!("{CHROMIUM} did not finish within 90 s"),
    };
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every `$ref` in `document` that points at nothing.
fn dangling_refs(document: &Value) -> Vec<String> {
    let mut dangling = Vec::new();
    let mut stack = vec![document];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    let pointer = target.trim_start_matches('#');
                    if document.pointer(pointer).is_none() {
                        dangling.push(target.clone());
                    }
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    dangling
}

/// Whether `schema` (or each alternative of an `anyOf`/`oneOf`) requires `detail`.
fn mentions_detail(document: &Value, schema: &Value) -> bool {
    if let Some(Value::String(target)) = schema.get("$ref") {
        return document
            .pointer(target.trim_start_matches('#'))
            .is_some_and(|schema| mentions_detail(document, schema));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alternatives)) = schema.get(key) {
            return alternatives
                .iter()
                .all(|schema| mentions_detail(document, schema));
        }
    }
    schema["required"]
        .as_array()
        .is_some_and(|required| required.iter().any(|field| field == "detail"))
}
