//! The status page in a real browser: headless Chromium (Debian's `chromium`) loads `GET /`
//! from a worker that is processing jobs. The page renders with no console message at all
//! (script errors and Content-Security-Policy violations are console messages), its numbers
//! move as jobs finish, and a screenshot is kept in `$CARGO_TARGET_TMPDIR/status-page.png`.

mod ops_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ocr_infra::emulator::EmulatorConfig;
use ocr_tests::*;
use ops_support::*;

const WAIT: Duration = Duration::from_secs(60);

/// What one headless Chromium run gave: the DOM after the page's script ran, and the console.
struct Render {
    dom: String,
    console: Vec<String>,
}

async fn chromium(bin: &Path, url: &str, extra: &[&str]) -> Render {
    chromium_for(bin, url, extra, 5_000).await
}

async fn chromium_for(bin: &Path, url: &str, extra: &[&str], virtual_ms: u64) -> Render {
    let profile = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,1400",
        ])
        // Virtual time: the page's 1 s polls run several times, each awaiting its fetch.
        .arg(format!("--virtual-time-budget={virtual_ms}"))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(WAIT, out)
        .await
        .expect("chromium finished")
        .expect("chromium ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    Render {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        console: stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_string)
            .collect(),
    }
}

/// The text of the element with `id` in a dumped DOM (first text node).
fn text_of(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let open = dom[at..].find('>')? + at + 1;
    let close = dom[open..].find('<')? + open;
    Some(dom[open..close].trim().to_string())
}

/// A table row's last number (`<tr id="outcomes-succeeded"><td>succeeded</td><td>3</td>`).
fn row_value(dom: &str, id: &str) -> Option<f64> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let end = dom[at..].find("</tr>")? + at;
    let row = &dom[at..end];
    let last = row.rsplit("<td").next()?;
    last.split('>')
        .nth(1)?
        .split('<')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The cells of a table row, as text.
fn row_cells(dom: &str, id: &str) -> Vec<String> {
    let Some(at) = dom.find(&format!("id=\"{id}\"")) else {
        return Vec::new();
    };
    let end = dom[at..].find("</tr>").map_or(dom.len(), |e| e + at);
    dom[at..end]
        .split("<td")
        .skip(1)
        .filter_map(|c| c.split('>').nth(1)?.split('<').next())
        .map(|c| c.trim().to_string())
        .collect()
}

#[tokio::test]
async fn console_detection_catches_script_errors_and_csp_violations() {
    // The control for the assertions below: a page with an inline script under a policy that
    // forbids it, and a script error, must both show up as console messages.
    let Some(bin) = tool("chromium") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<html><head><meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\">\
         </head><body><script>document.title = 'ran';</script></body></html>",
    )
    .unwrap();
    let r = chromium(&bin, &format!("file://{}", page.display()), &["--dump-dom"]).await;
    assert!(
        r.console
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "{:?}",
        r.console
    );
    let page2 = dir.path().join("error.html");
    std::fs::write(
        &page2,
        "<html><body><script>undefinedFunction();</script></body></html>",
    )
    .unwrap();
    let r = chromium(
        &bin,
        &format!("file://{}", page2.display()),
        &["--dump-dom"],
    )
    .await;
    assert!(
        r.console.iter().any(|l| l.contains("ReferenceError")),
        "{:?}",
        r.console
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_renders_cleanly_and_its_numbers_move_as_jobs_finish() {
    let Some(bin) = tool("chromium") else {
        return;
    };
    let env = TestEnv::start(EmulatorConfig::default()).await.unwrap();
    upload_images(&env, 3).await;
    let worker = env.spawn_worker(env.settings()).await.unwrap();
    let url = format!("http://{}/", worker.http_addr);

    // The policy header is on the page and its assets.
    let client = reqwest::Client::new();
    for path in ["", "status.js", "status.css", "status.json"] {
        let r = client.get(format!("{url}{path}")).send().await.unwrap();
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    }

    // Before any job: ready, nothing finished, no console message.
    let before = chromium(&bin, &url, &["--dump-dom"]).await;
    assert!(before.console.is_empty(), "console: {:?}", before.console);
    assert_eq!(text_of(&before.dom, "readiness").as_deref(), Some("ready"));
    assert_eq!(text_of(&before.dom, "finished").as_deref(), Some("0"));
    assert_eq!(row_value(&before.dom, "outcomes-succeeded"), Some(0.0));

    // Jobs finish (good ones, an unreadable one, a missing object).
    for i in 0..3 {
        env.publish_job(&format!("sp-{i}"), BUCKET, &format!("img/{}.png", i % 3))
            .await
            .unwrap();
    }
    // One on the priority lane.
    env.publish_priority_job("sp-3", BUCKET, "img/0.png")
        .await
        .unwrap();
    env.publish_raw(b"not json", Some("sp-bad"), None)
        .await
        .unwrap();
    env.publish_job("sp-missing", BUCKET, "img/none.png")
        .await
        .unwrap();
    assert_eq!(env.collect(6, WAIT).await.unwrap().len(), 6);

    let after = chromium(&bin, &url, &["--dump-dom"]).await;
    assert!(after.console.is_empty(), "console: {:?}", after.console);
    assert_eq!(text_of(&after.dom, "finished").as_deref(), Some("6"));
    assert_eq!(row_value(&after.dom, "outcomes-succeeded"), Some(4.0));
    assert_eq!(row_value(&after.dom, "outcomes-dead_lettered"), Some(2.0));
    assert_eq!(row_value(&after.dom, "dead-letters-invalid_job"), Some(1.0));
    assert_eq!(
        row_value(&after.dom, "dead-letters-object_not_found"),
        Some(1.0)
    );
    assert!(
        after.dom.contains("sp-missing"),
        "recent errors show the job id"
    );
    assert!(
        after.dom.contains(&format!("{}.jobs", env.prefix)),
        "the jobs lane is listed"
    );
    // Lanes: finished, in flight, waiting for a slot, mean and last wait.
    assert_eq!(
        row_cells(&after.dom, "lanes-bulk")[..4],
        ["bulk", "5", "0", "0"]
    );
    assert_eq!(
        row_cells(&after.dom, "lanes-priority")[..4],
        ["priority", "1", "0", "0"]
    );
    assert!(
        after.dom.contains(&format!("{}.jobs.priority", env.prefix)),
        "the priority queue is listed"
    );

    // While jobs keep finishing, one page session sees its own numbers move. Virtual time
    // runs the 1 s polls back to back, each waiting for its real fetch: 300 polls take a few
    // real seconds, during which the workload finishes jobs.
    let (stop, load) = workload(&env, 3, Duration::from_millis(40));
    let r = chromium_for(&bin, &url, &["--dump-dom"], 300_000).await;
    assert!(r.console.is_empty(), "console: {:?}", r.console);
    let since: u64 = text_of(&r.dom, "since-open").unwrap().parse().unwrap();
    let total: u64 = text_of(&r.dom, "finished").unwrap().parse().unwrap();
    assert!(
        since > 0,
        "the page's numbers never moved while jobs finished"
    );
    assert!(total >= 6 + since, "{total} finished, {since} since open");
    assert!(
        text_of(&r.dom, "throughput")
            .unwrap()
            .parse::<f64>()
            .unwrap()
            >= 0.0
    );

    // The screenshot, kept as a test artefact.
    let shot: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let r = chromium(&bin, &url, &[&format!("--screenshot={}", shot.display())]).await;
    assert!(r.console.is_empty(), "console: {:?}", r.console);
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    eprintln!("status page screenshot: {}", shot.display());

    stop.cancel();
    load.await.unwrap();
    worker.stop().await.unwrap();
    env.cleanup().await;
}
