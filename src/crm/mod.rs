//! The CRM elements: leads, contacts, companies and deals, one folder each, and what they
//! share (communications, custom fields, duplicates, merges, products).

pub mod company;
pub mod contact;
pub mod deal;
pub mod lead;
pub mod shared;
