//! Bad input: every JSON endpoint, every kind of wrong body. Each gets its 4xx with a JSON `detail`,
//! none gets a 5xx, and none writes a row.

use e2e::{spawn_system, System};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::helpers::count_rows;

/// The body of a case: JSON, raw bytes with a content type, or nothing.
enum Body {
    Json(Value),
    Raw(&'static str, String),
}

struct Case {
    name: &'static str,
    service: &'static str,
    method: &'static str,
    path: &'static str,
    body: Body,
    status: u16,
}

fn malformed() -> Body {
    Body::Raw("application/json", "{oops: 1,".into())
}

fn not_json() -> Body {
    Body::Raw("text/plain", "email=a@b.example".into())
}

fn oversized() -> Body {
    Body::Json(json!({"email": format!("{}@example.org", "a".repeat(100 * 1024))}))
}

fn cases() -> Vec<Case> {
    use Body::Json as J;
    let (user, product, order, inventory) = (
        "userservice",
        "productservice",
        "orderservice",
        "inventoryservice",
    );
    let (email, analytics, search, cache) = (
        "emailservice",
        "analyticsservice",
        "searchservice",
        "cacheservice",
    );
    let (payment, report) = ("paymentservice", "reportservice");
    let case = |name, service, method, path, body, status| Case {
        name,
        service,
        method,
        path,
        body,
        status,
    };
    vec![
        case(
            "register: malformed JSON",
            user,
            "POST",
            "/register",
            malformed(),
            400,
        ),
        case("register: not JSON", user, "POST", "/register", not_json(), 415),
        case("register: no email", user, "POST", "/register", J(json!({})), 422),
        case(
            "register: email a number",
            user,
            "POST",
            "/register",
            J(json!({"email": 5})),
            422,
        ),
        case(
            "register: invalid email",
            user,
            "POST",
            "/register",
            J(json!({"email": "not-an-address"})),
            422,
        ),
        case(
            "register: unknown field",
            user,
            "POST",
            "/register",
            J(json!({"email": "a@b.example", "admin": true})),
            422,
        ),
        case("register: an array", user, "POST", "/register", J(json!([])), 422),
        case(
            "register: oversized body",
            user,
            "POST",
            "/register",
            oversized(),
            413,
        ),
        case(
            "register: wrong method",
            user,
            "GET",
            "/register",
            J(json!({})),
            405,
        ),
        case(
            "update: malformed JSON",
            product,
            "PUT",
            "/products/1",
            malformed(),
            400,
        ),
        case("update: not JSON", product, "PUT", "/products/1", not_json(), 415),
        case(
            "update: nothing to change",
            product,
            "PUT",
            "/products/1",
            J(json!({})),
            422,
        ),
        case(
            "update: negative stock",
            product,
            "PUT",
            "/products/1",
            J(json!({"stock": -1})),
            422,
        ),
        case(
            "update: stock a string",
            product,
            "PUT",
            "/products/1",
            J(json!({"stock": "many"})),
            422,
        ),
        case(
            "update: empty name",
            product,
            "PUT",
            "/products/1",
            J(json!({"name": "  "})),
            422,
        ),
        case(
            "update: unknown field",
            product,
            "PUT",
            "/products/1",
            J(json!({"price": 3})),
            422,
        ),
        case(
            "update: non-numeric id",
            product,
            "PUT",
            "/products/abc",
            J(json!({"stock": 1})),
            422,
        ),
        case(
            "update: unknown product",
            product,
            "PUT",
            "/products/99999",
            J(json!({"stock": 1})),
            404,
        ),
        case(
            "update: negative id",
            product,
            "PUT",
            "/products/-1",
            J(json!({"stock": 1})),
            404,
        ),
        case(
            "order: malformed JSON",
            order,
            "POST",
            "/create_order",
            malformed(),
            400,
        ),
        case("order: not JSON", order, "POST", "/create_order", not_json(), 415),
        case(
            "order: no quantity",
            order,
            "POST",
            "/create_order",
            J(json!({"product_id": 1})),
            422,
        ),
        case(
            "order: zero quantity",
            order,
            "POST",
            "/create_order",
            J(json!({"product_id": 1, "quantity": 0})),
            422,
        ),
        case(
            "order: negative quantity",
            order,
            "POST",
            "/create_order",
            J(json!({"product_id": 1, "quantity": -2})),
            422,
        ),
        case(
            "order: fractional quantity",
            order,
            "POST",
            "/create_order",
            J(json!({"product_id": 1, "quantity": 1.5})),
            422,
        ),
        case(
            "order: product a string",
            order,
            "POST",
            "/create_order",
            J(json!({"product_id": "one", "quantity": 1})),
            422,
        ),
        case(
            "order: product zero",
            order,
            "POST",
            "/create_order",
            J(json!({"product_id": 0, "quantity": 1})),
            422,
        ),
        case(
            "order: unknown product",
            order,
            "POST",
            "/create_order",
            J(json!({"product_id": 99999, "quantity": 1})),
            404,
        ),
        case(
            "reserve: no order",
            inventory,
            "POST",
            "/reserve_stock",
            J(json!({"product_id": 1, "quantity": 1})),
            422,
        ),
        case(
            "reserve: zero quantity",
            inventory,
            "POST",
            "/reserve_stock",
            J(json!({"order_id": 1, "product_id": 1, "quantity": 0})),
            422,
        ),
        case(
            "reserve: unknown product",
            inventory,
            "POST",
            "/reserve_stock",
            J(json!({"order_id": 1, "product_id": 99999, "quantity": 1})),
            404,
        ),
        case(
            "reserve: malformed JSON",
            inventory,
            "POST",
            "/reserve_stock",
            malformed(),
            400,
        ),
        case(
            "compensate: no order",
            inventory,
            "POST",
            "/compensate_stock",
            J(json!({"product_id": 1})),
            422,
        ),
        case(
            "compensate: negative order",
            inventory,
            "POST",
            "/compensate_stock",
            J(json!({"order_id": -1, "product_id": 1})),
            422,
        ),
        case(
            "welcome: no email",
            email,
            "POST",
            "/send_welcome_email",
            J(json!({})),
            422,
        ),
        case(
            "welcome: not JSON",
            email,
            "POST",
            "/send_welcome_email",
            not_json(),
            415,
        ),
        case(
            "click: no page",
            analytics,
            "POST",
            "/track_click",
            J(json!({"user_id": 1})),
            422,
        ),
        case(
            "click: user a string",
            analytics,
            "POST",
            "/track_click",
            J(json!({"user_id": "x", "page": "home"})),
            422,
        ),
        case(
            "click: malformed JSON",
            analytics,
            "POST",
            "/track_click",
            malformed(),
            400,
        ),
        case(
            "log update: product a string",
            analytics,
            "POST",
            "/log_update",
            J(json!({"product_id": "x"})),
            422,
        ),
        case(
            "reindex: no product",
            search,
            "POST",
            "/reindex",
            J(json!({})),
            422,
        ),
        case(
            "invalidate: not JSON",
            cache,
            "POST",
            "/invalidate_cache",
            not_json(),
            415,
        ),
        case(
            "payment: malformed JSON",
            payment,
            "POST",
            "/process_payment_fail",
            malformed(),
            400,
        ),
        case(
            "payment: not JSON",
            payment,
            "POST",
            "/process_payment",
            not_json(),
            415,
        ),
        case(
            "report: malformed JSON",
            report,
            "POST",
            "/generate_report",
            malformed(),
            400,
        ),
        case("unknown path", user, "POST", "/nowhere", J(json!({})), 404),
    ]
}

async fn send_case(system: &System, case: &Case) -> e2e::Reply {
    let service = system.service(case.service);
    let method = case.method.parse().unwrap_or(reqwest::Method::POST);
    let request = system.http.request(method, service.url_for(case.path));
    let request = match &case.body {
        Body::Json(value) => request.json(value),
        Body::Raw(content_type, text) => request.header("content-type", *content_type).body(text.clone()),
    };
    e2e::send(request).await
}

/// Rows in every table a request could write to.
async fn all_rows(system: &System) -> [i64; 4] {
    [
        count_rows(system, "userservice", "users").await,
        count_rows(system, "orderservice", "orders").await,
        count_rows(system, "inventoryservice", "reservations").await,
        count_rows(system, "inventoryservice", "inventory_items WHERE reserved <> 0").await,
    ]
}

#[tokio::test]
async fn every_kind_of_bad_input_gets_its_4xx_with_a_json_detail_and_writes_nothing() {
    let system = spawn_system().await;
    let products = system.tables_of("productservice").await;
    let catalogue_before: Vec<(i32, String, i32)> =
        sqlx::query_as("SELECT id, name, stock FROM products ORDER BY id")
            .fetch_all(&products)
            .await
            .expect("products");

    let mut wrong = Vec::new();
    for case in cases() {
        let reply = send_case(&system, &case).await;
        if reply.status != case.status || !reply.body["detail"].is_string() {
            wrong.push(format!(
                "{}: expected {}, got {} {}",
                case.name, case.status, reply.status, reply.body
            ));
        }
    }

    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(all_rows(&system).await, [0, 0, 0, 0]);
    let catalogue_after: Vec<(i32, String, i32)> =
        sqlx::query_as("SELECT id, name, stock FROM products ORDER BY id")
            .fetch_all(&products)
            .await
            .expect("products");
    assert_eq!(catalogue_before, catalogue_after);
    assert!(system.calls.calls().iter().all(|call| call.status < 500));
}

/// Any JSON value at all, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("email".to_owned()),
                    Just("product_id".to_owned()),
                    Just("quantity".to_owned()),
                    Just("order_id".to_owned()),
                    Just("stock".to_owned()),
                    Just("name".to_owned()),
                    "[a-z]{1,8}"
                ],
                inner,
                0..4,
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

const FUZZED: [(&str, &str); 7] = [
    ("userservice", "/register"),
    ("productservice", "/products/1"),
    ("orderservice", "/create_order"),
    ("inventoryservice", "/reserve_stock"),
    ("inventoryservice", "/compensate_stock"),
    ("analyticsservice", "/track_click"),
    ("emailservice", "/send_welcome_email"),
];

#[test]
fn generated_bodies_never_get_a_5xx_and_every_refusal_is_a_json_detail() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let system = runtime.block_on(spawn_system());

    let config = ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    };
    proptest!(config, |(body in any_json(), target in 0..FUZZED.len())| {
        let (service, path) = FUZZED[target];
        let method = if path.starts_with("/products") { reqwest::Method::PUT } else { reqwest::Method::POST };
        let reply = runtime.block_on(e2e::send(system.http.request(method, system.service(service).url_for(path)).json(&body)));
        prop_assert!(reply.status < 500, "{path} answered {} to {body}: {}", reply.status, reply.body);
        if reply.status >= 400 {
            prop_assert!(reply.body["detail"].is_string(), "{path} refused {body} without a detail: {}", reply.body);
        }
    });
    // Whatever was accepted, every reservation taken was given back.
    let reserved = runtime.block_on(count_rows(
        &system,
        "inventoryservice",
        "inventory_items WHERE reserved <> 0",
    ));
    let taken_by_hand = runtime.block_on(count_rows(
        &system,
        "inventoryservice",
        "reservations WHERE state = 'reserved'",
    ));
    assert!(
        reserved <= taken_by_hand,
        "{reserved} products hold stock that no reservation explains"
    );
    drop(system);
}
