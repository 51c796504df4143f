//! The dashboard's WebAssembly, split per route. Trunk assembles the page and runs this as its
//! `post_build` hook (`cargo xtask wasm`, see Trunk.toml): it builds the frontend crate, splits
//! it at the routes marked lazy (`wasm_split_cli_support`, as cargo-leptos does: trunk's own
//! Rust pipeline cannot split, trunk-rs/trunk#1022), binds the main module with wasm-bindgen,
//! shrinks every module with wasm-opt and puts them, with the page's loader, into trunk's
//! staging directory.
//!
//! Everything lands in one directory named after the build (`app-<hash>/`): the main module,
//! wasm-split's loader and the chunks it fetches next to itself, so every file can be cached
//! for good and a new build is a new directory.

use crate::setup::{root, run, with_path};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

const CRATE: &str = "svclab-frontend";

pub fn build() -> Result<()> {
    let staging = PathBuf::from(
        std::env::var_os("TRUNK_STAGING_DIR")
            .context("`cargo xtask wasm` is trunk's post_build hook (see Trunk.toml)")?,
    );
    let release = std::env::var("TRUNK_PROFILE").as_deref() == Ok("release");
    let (profile, profile_dir) = if release { ("wasm-release", "wasm-release") } else { ("dev", "debug") };
    run(Command::new("cargo")
        .args(["build", "--package", CRATE, "--target", "wasm32-unknown-unknown", "--profile", profile])
        .current_dir(root()))?;
    let target = target_dir().join("wasm32-unknown-unknown").join(profile_dir);
    let input = std::fs::read(target.join(format!("{CRATE}.wasm"))).context("reading the frontend's WebAssembly")?;

    let dir = format!("app-{:016x}", fnv1a(&input));
    let out = staging.join(&dir);
    std::fs::create_dir_all(&out)?;
    let main = target.join(format!("{CRATE}.split.wasm"));
    let main_module = format!("./{CRATE}.js");
    let split = wasm_split_cli_support::transform({
        let mut options = wasm_split_cli_support::Options::new(&input);
        options.output_dir = &out;
        options.main_out_path = &main;
        options.link_name = "./__wasm_split.js";
        options.main_module = &main_module;
        options
    })
    .map_err(|e| anyhow::anyhow!("splitting the dashboard's WebAssembly: {e:?}"))?;
    eprintln!("xtask: the dashboard's WebAssembly split into the main module and {} chunks", split.split_modules.len());

    run(with_path("wasm-bindgen")
        .args(["--target", "web", "--no-typescript", "--keep-lld-exports", "--no-demangle", "--out-name", CRATE])
        .arg("--out-dir")
        .arg(&out)
        .arg(&main))?;
    if release {
        for module in wasm_files(&out)? {
            run(with_path("wasm-opt")
                .args(["-Oz", "--enable-bulk-memory", "--enable-nontrapping-float-to-int", "--enable-sign-ext"])
                .args(["--enable-mutable-globals", "--enable-reference-types", "--enable-multivalue"])
                .arg(&module)
                .arg("-o")
                .arg(&module))?;
        }
    }
    load_from_page(&staging.join("index.html"), &dir)
}

/// Puts the loader into the page: the main module and its WebAssembly preloaded, then started.
fn load_from_page(html: &Path, dir: &str) -> Result<()> {
    let page = std::fs::read_to_string(html).context("reading the staged index.html")?;
    let js = format!("/{dir}/{CRATE}.js");
    let wasm = format!("/{dir}/{CRATE}_bg.wasm");
    let tags = format!(
        "<link rel=\"modulepreload\" href=\"{js}\" crossorigin=\"anonymous\">\
         <link rel=\"preload\" href=\"{wasm}\" as=\"fetch\" type=\"application/wasm\" crossorigin=\"anonymous\">\
         <script type=\"module\">import init from '{js}'; init({{ module_or_path: '{wasm}' }});</script>\n  </head>"
    );
    if !page.contains("</head>") {
        bail!("the staged index.html has no </head>");
    }
    std::fs::write(html, page.replacen("</head>", &tags, 1))?;
    Ok(())
}

fn wasm_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    files.sort();
    Ok(files)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// FNV-1a: a stable name for a build's directory.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_the_builds_main_module() {
        let dir = std::env::temp_dir().join(format!("svclab-xtask-wasm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let html = dir.join("index.html");
        std::fs::write(&html, "<html><head><title>t</title></head><body></body></html>").unwrap();
        load_from_page(&html, "app-00ff").unwrap();
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(page.contains("import init from '/app-00ff/svclab-frontend.js'"), "{page}");
        assert!(page.contains("module_or_path: '/app-00ff/svclab-frontend_bg.wasm'"), "{page}");
        assert!(page.find("<script").unwrap() < page.find("</head>").unwrap());
        std::fs::write(&html, "<html><body></body></html>").unwrap();
        assert!(load_from_page(&html, "app-00ff").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_builds_name_follows_its_bytes() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fnv1a(b"ab"), fnv1a(b"ba"));
    }
}
