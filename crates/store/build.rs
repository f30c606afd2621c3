//! Embeds the migrations: writes `$OUT_DIR/migrations.rs` with every `migrations/<backend>/*.sql`
//! file, in order, as `(file name, include_str!(…))`. (`sqlx::migrate!` did this through sqlx's
//! proc macro, which compiles sqlx and SQLite a second time for the host.)

use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("migrations.rs");
    println!("cargo:rerun-if-changed=migrations");
    let mut code = String::new();
    for backend in ["sqlite", "postgres"] {
        let dir = manifest.join("migrations").join(backend);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        code.push_str(&format!(
            "pub const {}: &[(&str, &str)] = &[\n",
            backend.to_uppercase()
        ));
        for f in &files {
            println!("cargo:rerun-if-changed={}", f.display());
            code.push_str(&format!(
                "    ({:?}, include_str!({:?})),\n",
                name_of(f),
                f.display().to_string()
            ));
        }
        code.push_str("];\n");
    }
    fs::write(&out, code).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 file name")
        .to_owned()
}
