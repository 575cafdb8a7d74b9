//! `stack-study`: studying a system, driving it through the k6 scenarios and reading what happened.
//! It stands on the two crates below it: `stack-system` starts what a local target runs, and
//! `stack-record` is the only reader and writer of a run directory (`docs/results.md`); nothing here
//! parses those files itself.
//!
//! Every part speaks of the six [`scenario`]s, each defined once. [`target`] says what a bench drives
//! (a local system, a compose project, or URLs). [`bench`] runs the scenarios against a target and
//! leaves a run directory through `stack-record`. [`report`] turns one record into a page,
//! [`compare`] sets two side by side with [`inference`], and both draw with [`page`]. [`hops`] reads
//! the services' own metrics into the record's per-hop breakdown. [`warning`] decides, from a record
//! alone, what a reader should know before trusting its figures; everyone else only renders its
//! [`warning::Warning`]s.

pub mod bench;
pub mod compare;
pub mod hops;
pub mod inference;
pub mod page;
pub mod report;
pub mod scenario;
pub mod target;
pub mod warning;
