//! `stack`: the ten services of `docker-compose-sync.yml` as local processes, for machines without
//! Docker, and the k6 study run against them.
//!
//! The compose file stays the single source of truth: [`compose`] reads it, [`plan`] turns it into
//! local processes (ports, rewritten host names), [`postgres`] provides a private database when none
//! is given, [`process`] starts, watches and stops the services, and [`system`] puts them together.
//! [`bench`] drives a [`target`] through the k6 scenarios and leaves a [`record`] of the run.

pub mod bench;
pub mod compose;
pub mod plan;
pub mod postgres;
pub mod process;
pub mod record;
pub mod system;
pub mod target;
