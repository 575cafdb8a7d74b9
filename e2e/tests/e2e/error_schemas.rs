//! Error bodies against their documented schemas: every example that a service's OpenAPI document
//! gives for an error status, and real error answers of the running services, are valid against the
//! schema the document gives for that status.
//!
//! The schemas are derived from the Rust types that the services send (`common::error`), and each
//! error body type refuses fields it does not declare, so a field sent or shown in an example but
//! missing from the type's schema (as `available` once was from `ErrorBody`) fails here. The
//! validator is the `jsonschema` crate, with JSON Schema 2020-12, OpenAPI 3.1's dialect; a
//! response's schema is checked with the document's `components` beside it, so its `$ref`s resolve.

use e2e::{spawn_system, System};
use serde_json::{json, Map, Value};

/// Every error response of one operation of one service's document: `(where, status, response)`.
fn error_responses(document: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                if status.starts_with('4') || status.starts_with('5') {
                    let place = format!("{} {path}", method.to_uppercase());
                    found.push((place, status.clone(), response.clone()));
                }
            }
        }
    }
    found
}

/// The JSON body of a response: its schema and every example it gives, its own or its schema's.
struct Documented {
    schema: Value,
    examples: Vec<Value>,
}

fn documented(document: &Value, response: &Value) -> Documented {
    let content = &response["content"]["application/json"];
    let schema = content["schema"].clone();
    let mut examples: Vec<Value> = content.get("example").cloned().into_iter().collect();
    for example in content["examples"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, e)| e)
    {
        examples.extend(example.get("value").cloned());
    }
    examples.extend(schema_examples(document, &schema));
    Documented { schema, examples }
}

/// The examples a schema gives of itself, following a `$ref` to the component it names.
fn schema_examples(document: &Value, schema: &Value) -> Vec<Value> {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(target) => document
            .pointer(target.trim_start_matches('#'))
            .unwrap_or(&Value::Null),
        None => schema,
    };
    let mut examples: Vec<Value> = schema.get("example").cloned().into_iter().collect();
    examples.extend(schema["examples"].as_array().into_iter().flatten().cloned());
    examples
}

/// Why `instance` is not valid against `schema` of `document`, one line per error; empty if it is.
fn violations(document: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    let mut root = match schema {
        Value::Object(map) => map.clone(),
        other => return vec![format!("the schema is not an object: {other}")],
    };
    root.insert("components".into(), document["components"].clone());
    let validator = match jsonschema::draft202012::new(&Value::Object(root)) {
        Ok(validator) => validator,
        Err(err) => return vec![format!("the schema does not compile: {err}")],
    };
    validator
        .iter_errors(instance)
        .map(|err| format!("{err} at {}", err.instance_path()))
        .collect()
}

/// Every documented error example of `document` that its schema refuses, with the reasons.
fn invalid_examples(name: &str, document: &Value) -> Vec<String> {
    let mut failures = Vec::new();
    for (place, status, response) in error_responses(document) {
        let Documented { schema, examples } = documented(document, &response);
        for example in examples {
            let reasons = violations(document, &schema, &example);
            if !reasons.is_empty() {
                failures.push(format!(
                    "{name} {place} {status}: {example}: {}",
                    reasons.join("; ")
                ));
            }
        }
    }
    failures
}

async fn document_of(system: &System, name: &str) -> Value {
    let reply = e2e::send(system.http.get(system.service(name).url_for("/openapi.json"))).await;
    assert_eq!(reply.status, 200, "{name}'s document");
    reply.body
}

async fn documents(system: &System) -> Vec<(&'static str, Value)> {
    let mut documents = Vec::new();
    for service in system.services() {
        documents.push((service.name(), document_of(system, service.name()).await));
    }
    documents
}

#[tokio::test]
async fn every_documented_error_example_is_valid_against_its_schema() {
    // Given the ten services' documents
    let system = spawn_system().await;
    let documents = documents(&system).await;

    // When each error example is checked against the schema of its response
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, document) in &documents {
        checked += error_responses(document)
            .iter()
            .map(|(_, _, response)| documented(document, response).examples.len())
            .sum::<usize>();
        failures.extend(invalid_examples(name, document));
    }

    // Then every one is valid (and there were examples to check, for every service)
    assert!(checked >= documents.len(), "only {checked} examples were checked");
    assert!(
        failures.is_empty(),
        "examples that their schema refuses:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_documented_error_response_gives_an_example() {
    // Given the ten services' documents
    let system = spawn_system().await;

    // When each error response is looked at, Then it shows an example
    let mut missing = Vec::new();
    for (name, document) in documents(&system).await {
        for (place, status, response) in error_responses(&document) {
            if documented(&document, &response).examples.is_empty() {
                missing.push(format!("{name} {place} {status}"));
            }
        }
    }

    assert!(
        missing.is_empty(),
        "error responses without an example:\n{}",
        missing.join("\n")
    );
}

#[tokio::test]
async fn an_example_with_a_field_its_schema_lacks_is_caught() {
    // Given the inventory's real document, in which the stock-short body declares `available`
    let system = spawn_system().await;
    let mut document = document_of(&system, "inventoryservice").await;
    assert_eq!(
        invalid_examples("inventoryservice", &document),
        Vec::<String>::new()
    );

    // When the body's type loses the field, as `ErrorBody` once lacked it
    let conflict = "/paths/~1reserve_stock/post/responses/409/content/application~1json/schema/anyOf";
    let short = document
        .pointer_mut(conflict)
        .and_then(Value::as_array_mut)
        .and_then(|alternatives| {
            alternatives
                .iter_mut()
                .find(|alternative| alternative["properties"].get("available").is_some())
        })
        .expect("the 409 has a body with `available`");
    short["properties"]
        .as_object_mut()
        .map(|fields| fields.remove("available"));
    short["required"] = json!(["detail"]);

    // Then the 409 example, which still shows `available`, is refused
    let failures = invalid_examples("inventoryservice", &document);
    assert!(
        failures
            .iter()
            .any(|failure| failure.contains("POST /reserve_stock 409")),
        "the drift went unnoticed: {failures:?}"
    );
}

/// A request that a service answers with an error, and the status it must answer.
struct ErrorCase {
    service: &'static str,
    method: reqwest::Method,
    path: &'static str,
    body: Value,
    status: u16,
}

/// The errors each service sends of its own, beyond the malformed bodies every route refuses.
fn own_errors() -> Vec<ErrorCase> {
    let post = |service, path, body: Value, status| ErrorCase {
        service,
        method: reqwest::Method::POST,
        path,
        body,
        status,
    };
    vec![
        post(
            "inventoryservice",
            "/reserve_stock",
            json!({"order_id": 1, "product_id": 1, "quantity": 1_000_000}),
            409,
        ),
        post(
            "inventoryservice",
            "/reserve_stock",
            json!({"order_id": 2, "product_id": 999_999, "quantity": 1}),
            404,
        ),
        post(
            "inventoryservice",
            "/reserve_stock",
            json!({"order_id": 0, "product_id": 1, "quantity": 1}),
            422,
        ),
        post(
            "orderservice",
            "/create_order",
            json!({"product_id": 1, "quantity": 1_000_000}),
            409,
        ),
        post(
            "orderservice",
            "/create_order",
            json!({"product_id": 999_999, "quantity": 1}),
            404,
        ),
        post(
            "orderservice",
            "/create_order",
            json!({"product_id": 1, "quantity": 1}),
            400,
        ),
        post(
            "paymentservice",
            "/process_payment_fail",
            json!({"order_id": 1}),
            400,
        ),
        post(
            "userservice",
            "/register",
            json!({"email": "not an address"}),
            422,
        ),
        ErrorCase {
            service: "productservice",
            method: reqwest::Method::PUT,
            path: "/products/999999",
            body: json!({"stock": 1}),
            status: 404,
        },
    ]
}

/// Every route of every service, sent a body that is not well-formed JSON: each answers `400`.
fn malformed_bodies(documents: &[(&'static str, Value)]) -> Vec<(&'static str, reqwest::Method, String)> {
    let mut routes = Vec::new();
    for (name, document) in documents {
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            for method in item.as_object().map(Map::keys).into_iter().flatten() {
                if let Ok(method) = method.to_uppercase().parse::<reqwest::Method>() {
                    if method != reqwest::Method::GET {
                        routes.push((*name, method, path.replace("{product_id}", "1")));
                    }
                }
            }
        }
    }
    routes
}

/// The schema `document` gives for `status` of the route that `path` (a concrete path) matches.
fn schema_for(document: &Value, method: &reqwest::Method, path: &str, status: u16) -> Option<Value> {
    let (_, item) = document["paths"]
        .as_object()?
        .iter()
        .find(|(template, _)| path_matches(template, path))?;
    let operation = &item[method.as_str().to_lowercase()];
    let schema = &operation["responses"][status.to_string()]["content"]["application/json"]["schema"];
    (!schema.is_null()).then(|| schema.clone())
}

/// Whether `path` is an instance of the document's path `template` (`/products/{product_id}`).
fn path_matches(template: &str, path: &str) -> bool {
    let (template, path): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(expected, actual)| expected == actual || expected.starts_with('{'))
}

#[tokio::test]
async fn real_error_answers_are_valid_against_their_documented_schema() {
    let system = spawn_system().await;
    let documents = documents(&system).await;
    let document = |name: &str| -> &Value {
        &documents
            .iter()
            .find(|(known, _)| *known == name)
            .expect("a document per service")
            .1
    };
    let mut failures = Vec::new();
    let mut check = |name: &str, method: &reqwest::Method, path: &str, reply: e2e::Reply, status: u16| {
        if reply.status != status {
            failures.push(format!(
                "{name} {method} {path}: answered {} {}, not {status}",
                reply.status, reply.body
            ));
            return;
        }
        let Some(schema) = schema_for(document(name), method, path, status) else {
            failures.push(format!("{name} {method} {path}: {status} is not documented"));
            return;
        };
        let reasons = violations(document(name), &schema, &reply.body);
        if !reasons.is_empty() {
            failures.push(format!(
                "{name} {method} {path} {status}: {}: {} (schema {})",
                reply.body,
                reasons.join("; "),
                schema
            ));
        }
    };

    // When every route is sent a malformed body, and each service is sent what it refuses itself
    for (name, method, path) in malformed_bodies(&documents) {
        let request = system
            .http
            .request(method.clone(), system.service(name).url_for(&path))
            .header("content-type", "application/json")
            .body("{oops: 1,");
        check(name, &method, &path, e2e::send(request).await, 400);
    }
    for case in own_errors() {
        let request = system
            .http
            .request(
                case.method.clone(),
                system.service(case.service).url_for(case.path),
            )
            .json(&case.body);
        check(
            case.service,
            &case.method,
            case.path,
            e2e::send(request).await,
            case.status,
        );
    }

    // Then each answer is valid against the schema its service documents for its status
    assert!(
        failures.is_empty(),
        "answers that differ from their documents:\n{}",
        failures.join("\n")
    );
}
