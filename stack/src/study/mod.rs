//! Studying a system: driving it through the k6 scenarios and reading what happened.
//!
//! [`bench`] runs the scenarios against a target and leaves a run directory that only [`record`]
//! reads and writes (`docs/results.md`). [`report`] turns one record into a page, [`compare`] sets
//! two side by side, and both draw with [`page`]. [`hops`] reads the services' own metrics into the
//! record's per-hop breakdown. [`warning`] decides, from a record alone, what a reader should know
//! before trusting its figures; everyone else only renders its [`warning::Warning`]s.

pub mod bench;
pub mod compare;
pub mod hops;
pub mod page;
pub mod record;
pub mod report;
pub mod warning;
