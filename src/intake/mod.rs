//! Lead channels: web forms and the website widget (`forms`), calls reported by a telephone
//! system (`calls`), incoming e-mail (`mail`). Each turns what arrives from outside into leads
//! and activities through the same write pipeline as the API.

pub mod calls;
pub mod forms;
pub mod mail;
