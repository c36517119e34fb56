//! A report page loaded in headless Chromium: every image must load, no
//! error may reach the console. Skipped without Chromium unless CI or
//! TMESIM_REQUIRE_BROWSER is set, where a missing browser fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

fn browser_required() -> bool {
    super::required("TMESIM_REQUIRE_BROWSER")
}

/// What every report page must show in the browser: every image loaded,
/// no page error, no console message.
pub fn assert_clean(result: &serde_json::Value, stderr: &str) {
    assert_eq!(
        result["bad"],
        serde_json::json!([]),
        "images that did not load"
    );
    assert_eq!(result["errors"], serde_json::json!([]), "page errors");
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TMESIM_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| {
        std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(name))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    })
    .find(|p| p.is_file())
}

/// Script injected into a copy of the report (the report itself has none):
/// it records load errors and console errors, then lists images that did
/// not resolve, in a <pre id="check"> that --dump-dom prints.
const CHECK_SCRIPT: &str = r#"<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  window.__errors.push('error: ' + (e.message || (t && (t.src || t.href)) || 'unknown'));
}, true);
var __ce = console.error;
console.error = function () { window.__errors.push('console.error: ' + Array.prototype.join.call(arguments, ' ')); __ce.apply(console, arguments); };
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).map(function (i) { return i.getAttribute('src'); });
  var pre = document.createElement('pre');
  pre.id = 'check';
  pre.textContent = JSON.stringify({ images: imgs.length, bad: bad, errors: window.__errors });
  document.body.appendChild(pre);
});
</script>"#;

/// Load `dir/report.html` (static, no network links, every relative
/// link resolving) in headless Chromium. Returns what the page reported
/// (`images`, `bad` images, `errors`) and Chromium's stderr, or None when
/// the browser is missing and not required.
pub fn load_report(dir: &Path) -> Option<(serde_json::Value, String)> {
    let Some(chromium) = find_chromium() else {
        if browser_required() {
            panic!("chromium is required (CI or TMESIM_REQUIRE_BROWSER is set) but was not found; apt-get install chromium");
        }
        eprintln!(
            "skipped: no chromium on PATH (set TMESIM_REQUIRE_BROWSER=1 to make this an error)"
        );
        return None;
    };
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(!html.contains("<script"), "the report is static");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network links"
    );
    // Every relative link points at a file of the run.
    for part in html.split("href=\"").skip(1) {
        let target = &part[..part.find('"').unwrap()];
        let target = target.replace("%20", " ");
        assert!(dir.join(&target).exists(), "broken link {target}");
    }
    let check = dir.join("_browser_check.html");
    std::fs::write(
        &check,
        html.replacen("<head>", &format!("<head>\n{CHECK_SCRIPT}"), 1),
    )
    .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", check.canonicalize().unwrap().display());
    let o = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=20000",
            &format!("--user-data-dir={}", profile.path().display()),
            "--dump-dom",
            &url,
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
    std::fs::remove_file(&check).ok();
    let dom = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "chromium failed: {stderr}");
    let start = dom
        .find("<pre id=\"check\">")
        .unwrap_or_else(|| panic!("the page did not finish loading; stderr: {stderr}"));
    let json = &dom[start + "<pre id=\"check\">".len()..];
    let json = json[..json.find("</pre>").unwrap()]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let result: serde_json::Value = serde_json::from_str(&json).unwrap();
    Some((result, stderr.into_owned()))
}
