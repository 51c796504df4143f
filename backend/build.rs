//! Embeds the built dashboard (`frontend/dist`, trunk's output) in the svclab binary when it has
//! been built, each file beside its brotli and gzip forms, so that `svclab` serves the dashboard
//! from any directory and `cargo install --path backend` gives a working one. Without a build of
//! the dashboard the table is empty and svclab says how to build it (`--dashboard DIR` serves a
//! directory instead, for development).

use std::io::Write;
use std::path::{Path, PathBuf};

fn main() {
    let frontend = Path::new(env!("CARGO_MANIFEST_DIR")).join("../frontend");
    let dist = frontend.join("dist");
    // The frontend directory always exists, so this reruns when dist appears or changes (a path
    // that does not exist would rerun the script on every build).
    println!("cargo:rerun-if-changed={}", if dist.is_dir() { dist.display() } else { frontend.display() });
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut table = String::from("&[\n");
    if dist.join("index.html").is_file() {
        let mut files = Vec::new();
        collect(&dist, &mut files);
        files.sort();
        let embedded = out.join("dashboard");
        // Earlier builds' files (another build's `app-<hash>/`) are not carried along.
        let _ = std::fs::remove_dir_all(&embedded);
        for path in files {
            // The URL path under /, e.g. `app-<hash>/svclab-frontend_bg.wasm`.
            let name = path.strip_prefix(&dist).expect("under dist").to_string_lossy().replace('\\', "/");
            std::fs::create_dir_all(embedded.join(&name).parent().expect("a parent")).expect("OUT_DIR is writable");
            let raw = std::fs::read(&path).expect("a dashboard file is readable");
            let mut br = Vec::new();
            let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 24, ..Default::default() };
            brotli::BrotliCompress(&mut raw.as_slice(), &mut br, &params).expect("brotli compresses");
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            gz.write_all(&raw).expect("gzip compresses");
            let gz = gz.finish().expect("gzip compresses");
            let at = |suffix: &str| embedded.join(format!("{name}{suffix}"));
            std::fs::write(at(""), &raw).expect("OUT_DIR is writable");
            std::fs::write(at(".br"), &br).expect("OUT_DIR is writable");
            std::fs::write(at(".gz"), &gz).expect("OUT_DIR is writable");
            table.push_str(&format!(
                "    (\"/{name}\", include_bytes!({:?}), include_bytes!({:?}), include_bytes!({:?})),\n",
                at(""),
                at(".br"),
                at(".gz")
            ));
        }
    }
    table.push(']');
    std::fs::write(out.join("dashboard.rs"), table).expect("OUT_DIR is writable");
}

/// Every file under `dir`, in its subdirectories too (the WebAssembly is in `app-<hash>/`), but
/// not trunk's `.stage` (a build under way).
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("frontend/dist is readable").flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(&path, files);
        } else if path.is_file() {
            files.push(path);
        }
    }
}
