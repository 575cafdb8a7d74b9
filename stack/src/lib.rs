//! `stack`: the ten services of `docker-compose-sync.yml` as local processes, for machines without
//! Docker, and the k6 study run against them.
//!
//! The compose file stays the single source of truth: [`compose`] reads it, [`plan`] turns it into
//! local processes (ports, rewritten host names), [`postgres`] provides a private database when none
//! is given, [`process`] starts, watches and stops the services, and [`system`] puts them together.
//! [`bench`] drives a [`target`] through the k6 scenarios and leaves a [`record`] of the run;
//! [`report`] turns a record into a page to read, and [`compare`] sets two records side by side.
//! [`hops`] reads the services' metrics into the record's per-hop breakdown, and [`observe`] runs a
//! local Prometheus that scrapes them.

pub mod bench;
pub mod compare;
pub mod compose;
pub mod hops;
pub mod observe;
pub mod plan;
pub mod postgres;
pub mod process;
pub mod record;
pub mod report;
pub mod system;
pub mod target;
