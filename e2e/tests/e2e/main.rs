//! End-to-end tests: every scenario of SPEC.md against the real services, over real HTTP, on a real
//! PostgreSQL. One test binary, one module per scenario or concern.

mod bad_input;
mod documentation;
mod error_schemas;
mod helpers;
mod k6_script;
mod lifecycle;
mod metrics;
mod openapi_docs;
mod pool;
mod release_binaries;
mod reliability;
mod s1_register;
mod s2_payment;
mod s3_product_fan_out;
mod s4_report;
mod s5_order_saga;
mod s6_track_click;
mod slow_clients;
mod traces;
