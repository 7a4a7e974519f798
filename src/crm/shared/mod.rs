//! What the four element types share: communications, custom fields, duplicate search,
//! merging, the product catalogue and product rows with their money maths.

pub mod communications;
pub mod custom_fields;
pub mod custom_fields_api;
pub mod duplicates;
pub mod duplicates_api;
pub mod merge;
pub mod money;
pub mod products;
pub mod products_api;
