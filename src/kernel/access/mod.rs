//! Rights: roles' permission lines, and the read predicates built from them.

pub mod permissions;
pub mod visibility;
