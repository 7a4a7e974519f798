//! Importing CSV and Excel files into elements.

pub mod api;
mod batch;
pub mod cli;
pub mod export;
pub mod file;
pub mod job;
pub mod lookups;
pub mod mapping;
pub mod rollback;
pub mod run;
