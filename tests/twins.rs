//! Every pointer from a kernel to its twin resolves. A comment in src/ or
//! shaders/ that says "twin" or "mirrors" names the other half of a pair
//! (a WGSL stage and its CPU reference); when one half is renamed or moved
//! the pointer must follow, or a reader is sent to code that no longer
//! exists. Three forms are checked, in the line with the word and the next:
//!
//! - a file: `src/cpu/react.rs`, `shaders/react.wgsl`, `common.wgsl`;
//! - a Rust path: `cpu::react::hill`, `backend::scan_values`;
//! - a named item in a file: "`neighbor` in common.wgsl".

mod common;

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `text` (a .rs or .wgsl file) defines `name`.
fn defines(text: &str, name: &str) -> bool {
    let patterns = [
        format!("fn {name}("),
        format!("fn {name}<"),
        format!("struct {name}"),
        format!("enum {name}"),
        format!("const {name}"),
        format!("static {name}"),
        format!("type {name}"),
        format!("mod {name}"),
        format!("trait {name}"),
        format!("> {name}:"),
        format!("var {name}"),
    ];
    patterns.iter().any(|p| {
        text.match_indices(p.as_str()).any(|(at, _)| {
            // A whole word: `fn hill(` must not match `fn hill_n(`.
            let end = at + p.len();
            p.ends_with(['(', '<', ':'])
                || !text[end..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        })
    })
}

/// The file a named file refers to: a path from the repository root, or a
/// bare shader name (shaders/ holds them all).
fn named_file(name: &str) -> Option<PathBuf> {
    let direct = root().join(name);
    if direct.is_file() {
        return Some(direct);
    }
    if !name.contains('/') && name.ends_with(".wgsl") {
        let shader = root().join("shaders").join(name);
        return shader.is_file().then_some(shader);
    }
    None
}

/// Whether a Rust path such as `cpu::react::hill` names a module of the
/// crate, or an item (or a method of a type) defined in one.
fn rust_path_resolves(path: &str) -> bool {
    let path = path
        .trim_start_matches("crate::")
        .trim_start_matches("tmesim::");
    let segments: Vec<&str> = path.split("::").collect();
    for k in (1..=segments.len()).rev() {
        let module = segments[..k].join("/");
        for file in [format!("src/{module}.rs"), format!("src/{module}/mod.rs")] {
            let file = root().join(file);
            if !file.is_file() {
                continue;
            }
            let rest = &segments[k..];
            let text = std::fs::read_to_string(&file).unwrap();
            return match rest {
                [] => true,
                [.., item] => defines(&text, item),
            };
        }
    }
    false
}

/// The pointers of one comment window that do not resolve.
fn broken_in(window: &str) -> Vec<String> {
    let mut broken = Vec::new();
    let token_char = |c: char| c.is_alphanumeric() || "_:./".contains(c);
    let tokens: Vec<&str> = window
        .split(|c: char| !token_char(c))
        .map(|t| t.trim_end_matches(['.', ':']))
        .filter(|t| !t.is_empty())
        .collect();
    for token in tokens {
        let is_file = token.ends_with(".wgsl")
            || (token.ends_with(".rs")
                && (token.starts_with("src/") || token.starts_with("shaders/")));
        let is_path = token.contains("::") && !token.starts_with("wgpu::");
        if is_file && named_file(token).is_none() {
            broken.push(format!("file {token}"));
        } else if is_path && !rust_path_resolves(token) {
            broken.push(format!("path {token}"));
        }
    }
    // "`item` in file.wgsl" / "`item` of file.rs"
    let mut rest = window;
    while let Some(open) = rest.find('`') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('`') else { break };
        let item = &after[..close];
        let tail = after[close + 1..].trim_start();
        let tail = tail
            .strip_prefix("in ")
            .or_else(|| tail.strip_prefix("of "));
        if let Some(tail) = tail {
            let file: String = tail.chars().take_while(|&c| token_char(c)).collect();
            let file = file.trim_end_matches('.');
            // A missing file was reported with the files above.
            if let Some(path) = named_file(file) {
                let text = std::fs::read_to_string(&path).unwrap();
                if !defines(&text, item.trim_end_matches("()")) {
                    broken.push(format!("`{item}` in {file}"));
                }
            }
        }
        rest = &after[close + 1..];
    }
    broken
}

#[test]
fn every_twin_and_mirrors_pointer_resolves() {
    let mut sources = common::repo_files("src", "rs");
    sources.extend(common::repo_files("shaders", "wgsl"));
    let mut broken = Vec::new();
    let mut checked = 0;
    for path in &sources {
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let lower = line.to_lowercase();
            let is_comment = line.trim_start().starts_with("//");
            if !is_comment || !(lower.contains("twin") || lower.contains("mirrors")) {
                continue;
            }
            let next = lines
                .get(n + 1)
                .filter(|l| l.trim_start().starts_with("//"));
            let window = format!("{line} {}", next.copied().unwrap_or(""));
            checked += 1;
            for b in broken_in(&window) {
                let rel = path.strip_prefix(root()).unwrap().display();
                broken.push(format!("{rel}:{}: {b}", n + 1));
            }
        }
    }
    assert!(checked >= 20, "only {checked} twin comments found");
    assert!(
        broken.is_empty(),
        "pointers to twins that do not exist:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_checker_finds_a_broken_pointer_of_each_form() {
    assert_eq!(
        broken_in("// CPU twin: src/cpu/no_such_file.rs."),
        ["file src/cpu/no_such_file.rs"]
    );
    assert_eq!(
        broken_in("// CPU twin: cpu::diffuse_residual::operator."),
        ["path cpu::diffuse_residual::operator"]
    );
    assert_eq!(
        broken_in("// (mirrors `line_start` in diffuse_sweep.wgsl)"),
        ["file diffuse_sweep.wgsl"]
    );
    assert_eq!(
        broken_in("// (mirrors `no_such_fn` in common.wgsl)"),
        ["`no_such_fn` in common.wgsl"]
    );
    assert!(broken_in("// CPU twin: cpu::react::hill, `neighbor` in common.wgsl").is_empty());
}
