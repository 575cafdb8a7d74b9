//! `stack`: the ten services of `docker-compose-sync.yml` as local processes, for machines without
//! Docker, and the k6 study run against them.
//!
//! The crate has two halves. [`system`] runs a system: [`system::compose`] reads the compose file,
//! the single source of truth; [`system::plan`] turns it into local processes (ports, rewritten host
//! names); [`system::postgres`] provides a private database when none is given; [`system::process`]
//! starts, watches and stops the services; [`system::observe`] runs a local Prometheus that scrapes
//! them; and [`system::target`] says what a bench drives (these processes, a compose project, or
//! URLs). [`study`] studies it: [`study::bench`] drives a target through the k6 scenarios and leaves
//! a [`study::record`] of the run; [`study::report`] turns a record into a page to read, and
//! [`study::compare`] sets two records side by side; [`study::hops`] reads the services' metrics
//! into the record's per-hop breakdown. Both halves speak of the six [`scenario`]s, each defined once.

pub mod scenario;
pub mod study;
pub mod system;
