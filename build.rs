//! Rebuild when a migration is added: `embed_migrations!` reads the folders at compile time,
//! and a new folder is not a file cargo already tracks.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
