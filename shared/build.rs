//! `sqlx::migrate!` embeds `migrations/` at compile time; this makes a new or changed
//! migration rebuild the crate (cargo does not watch that directory otherwise).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
