//! Incoming e-mail: a mail server hands each message over (`POST /mail/inbound`, or
//! `kontor mail ingest` as a pipe transport), and it lands as an INCOMING EMAIL activity on the
//! contact, company or lead it came from, or as a new lead when the sender is unknown.

pub mod cli;
pub mod http;
pub mod ingest;
pub mod parse;
