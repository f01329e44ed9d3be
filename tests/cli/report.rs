//! `camscope report`: the HTML file, its ground truth from class folders or a CSV, and the page
//! run in a real headless browser (Chromium) where one is installed.

use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::common::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// ImageFolder: a folder per class, named by index, by name and by ImageNet WordNet ID.
fn image_folder(root: &Path) -> PathBuf {
    let d = root.join("folder");
    for (class, photo, name) in [
        ("espresso", "coffee.png", "cup.png"),
        ("281", "chelsea.png", "cat.png"),
        ("n02124075", "chelsea.png", "cat2.png"),
        ("Tiger_Cat", "astronaut.png", "person.png"),
    ] {
        std::fs::create_dir_all(d.join(class)).unwrap();
        std::fs::copy(asset(photo), d.join(class).join(name)).unwrap();
    }
    d
}

/// The row of `file` (its opening tag and cells), and one of its `data-` attributes.
fn row_of<'a>(html: &'a str, file: &str) -> &'a str {
    html.split("<tr")
        .find(|r| r.contains(&format!("data-file=\"{file}\"")))
        .unwrap_or_else(|| panic!("no row for {file}"))
}

fn data_attr(html: &str, file: &str, key: &str) -> f64 {
    let row = row_of(html, file);
    row.split(&format!("data-{key}=\""))
        .nth(1)
        .and_then(|v| v.split('"').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{file}: no numeric data-{key}"))
}

fn html_of(out: &Path) -> String {
    std::fs::read_to_string(out).unwrap()
}

/// The `data-file` of each row in document order, with whether it is hidden.
fn rows(html: &str) -> Vec<(String, bool)> {
    let body = &html[html.find("<tbody>\n<tr").unwrap_or(0)..];
    body.split("<tr")
        .skip(1)
        .filter_map(|r| {
            let head = &r[..r.find('>')?];
            let f = head.split("data-file=\"").nth(1)?.split('"').next()?;
            Some((f.to_owned(), head.contains("hidden")))
        })
        .collect()
}

#[test]
fn report_from_class_folders_is_one_self_contained_file() {
    let dir = temp_dir();
    let images = image_folder(dir.path());
    std::fs::write(images.join("espresso").join("broken.png"), b"not a png").unwrap();
    let out = dir.path().join("report.html");
    let (code, _, err) = camscope_code(&[
        "report",
        "--images",
        s(&images),
        "--methods",
        "gradcam,cam",
        "--out",
        s(&out),
    ]);
    assert_eq!(code, Some(3), "one broken photo: {err}");
    let html = html_of(&out);
    // Nothing is fetched: every image is a data URL, no script or style from elsewhere.
    for bad in ["src=\"http", "href=\"http", "src=\"/", "@import", "url("] {
        assert!(!html.contains(bad), "{bad}");
    }
    let thumbs: Vec<&str> = html
        .split("src=\"data:image/jpeg;base64,")
        .skip(1)
        .map(|t| t.split('"').next().unwrap())
        .collect();
    assert_eq!(thumbs.len(), 8, "4 photos × 2 methods");
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(thumbs[0])
        .unwrap();
    let thumb = image::load_from_memory(&jpeg).unwrap();
    assert_eq!(thumb.width().max(thumb.height()), 224);
    // Folder names: a class name, an index, a WordNet ID, a name in another case.
    for (file, truth) in [
        ("espresso/cup.png", "espresso"),
        ("281/cat.png", "tabby"),
        ("n02124075/cat2.png", "Egyptian cat"),
        ("Tiger_Cat/person.png", "tiger cat"),
    ] {
        let row = row_of(&html, file);
        assert!(
            row.contains(&format!("data-truth=\"{truth}\"")),
            "{row:.300}"
        );
    }
    assert!(html.contains("espresso/broken.png: <b>failed</b>"));
    assert!(html.contains("Per class") && html.contains("Accuracy"));
    assert!(html.contains("&quot;sha256&quot;") && html.contains("&quot;camscope&quot;"));

    // A folder that names no class, among fewer folders than classes, is refused by name.
    std::fs::create_dir(images.join("not a class")).unwrap();
    std::fs::copy(asset("coffee.png"), images.join("not a class/x.png")).unwrap();
    let (code, _, err) = camscope_code(&["report", "--images", s(&images), "--out", s(&out)]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("not a class") && err.contains("ImageFolder"),
        "{err}"
    );
}

/// A labels CSV with boxes: IoU, pointing game and the map's mass outside the box; the model
/// file is named by its SHA-256.
#[test]
fn report_with_boxes_scores_each_map_against_them() {
    let dir = temp_dir();
    let images = dir.path().join("photos");
    std::fs::create_dir(&images).unwrap();
    std::fs::copy(asset("coffee.png"), images.join("cup.png")).unwrap();
    std::fs::copy(asset("chelsea.png"), images.join("cat.png")).unwrap();
    let csv = dir.path().join("truth.csv");
    std::fs::write(
        &csv,
        "file,label,x0,y0,x1,y1\ncup.png,espresso,60,40,520,360\ncat.png,281,0,0,60,60\n",
    )
    .unwrap();
    let out = dir.path().join("r.html");
    let (code, _, err) = camscope_code(&[
        "report",
        "--images",
        s(&images),
        "--labels",
        s(&csv),
        "--faithfulness",
        "3",
        "--out",
        s(&out),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let html = html_of(&out);
    assert!(html.contains("map outside box") && html.contains("data-iou="));
    assert!(html.contains("deletion AUC"));
    for key in ["deletion", "insertion"] {
        assert!((0.0..=1.0).contains(&data_attr(&html, "cup.png", key)));
    }
    let attr = |file: &str, key: &str| data_attr(&html, file, key);
    // The cup's box holds most of the cup's map; the cat's is a corner away from the cat.
    assert!(
        attr("cup.png", "outside") < 0.5,
        "{}",
        attr("cup.png", "outside")
    );
    assert!(attr("cat.png", "outside") > 0.9);
    assert!(attr("cup.png", "iou") > attr("cat.png", "iou"));
    assert_eq!(attr("cup.png", "pointing"), 1.0);

    let model = fixture("hf_resnet/model.safetensors");
    if model.is_file() {
        use sha2::Digest as _;
        let sha = format!("{:x}", sha2::Sha256::digest(std::fs::read(&model).unwrap()));
        let (code, _, err) = camscope_code(&[
            "report",
            "--images",
            s(&images),
            "--model",
            s(&model),
            "--out",
            s(&out),
        ]);
        assert_eq!(code, Some(0), "{err}");
        assert!(html_of(&out).contains(&sha));
    }
}

/// The page in a real browser: Chromium runs its script, which sorts by the address's
/// `#sort=` and filters by `#filter=`. Skipped, saying so, where Chromium is not installed
/// (CI installs it: .ci/run).
#[test]
fn report_sorts_and_filters_in_a_headless_browser() {
    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .map(|b| PathBuf::from("/usr/bin").join(b))
        .find(|p| p.is_file())
    else {
        eprintln!("SKIPPED: no Chromium in /usr/bin (apt-get install chromium)");
        return;
    };
    let dir = temp_dir();
    let images = image_folder(dir.path());
    let out = dir.path().join("report.html");
    let (code, _, err) = camscope_code(&["report", "--images", s(&images), "--out", s(&out)]);
    assert_eq!(code, Some(0), "{err}");
    let dump = |view: &str| -> String {
        let o = std::process::Command::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--virtual-time-budget=5000",
                "--dump-dom",
            ])
            .arg(format!("file://{}#{view}", out.display()))
            .output()
            .expect("chromium runs");
        let dom = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            dom.contains("data-ready=\"1\""),
            "the page's script did not run: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        dom
    };
    let probability = |dom: &str, file: &str| data_attr(dom, file, "probability");
    let dom = dump("sort=probability-desc");
    let order = rows(&dom);
    assert_eq!(order.len(), 4);
    let p: Vec<f64> = order.iter().map(|(f, _)| probability(&dom, f)).collect();
    assert!(p.windows(2).all(|w| w[0] >= w[1]), "{order:?} {p:?}");
    assert!(dom.contains("data-shown=\"4\""));
    let dom = dump("sort=file&filter=wrong");
    let order = rows(&dom);
    let files: Vec<&str> = order.iter().map(|(f, _)| f.as_str()).collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted);
    // The astronaut is no tiger cat: at least that row is wrong, and only wrong rows show.
    let person = order
        .iter()
        .find(|(f, _)| f.ends_with("person.png"))
        .unwrap();
    assert!(!person.1, "the wrong prediction is shown");
    let shown = order.iter().filter(|(_, hidden)| !hidden).count();
    assert!(dom.contains(&format!("data-shown=\"{shown}\"")));
    for (f, hidden) in &order {
        let row = row_of(&dom, f);
        assert_eq!(*hidden, row.contains("data-correct=\"1\""), "{f}");
    }
}

/// A report made in two shards (one resumed after its log was cut short) and merged is the
/// report of one run, byte for byte.
#[test]
fn report_shards_merge_into_the_one_run_report() {
    let dir = temp_dir();
    let images = image_folder(dir.path());
    let whole = dir.path().join("whole/report.html");
    let (code, _, err) = camscope_code(&["report", "--images", s(&images), "--out", s(&whole)]);
    assert_eq!(code, Some(0), "{err}");
    assert!(dir.path().join("whole/report.jsonl").is_file());
    let shards = dir.path().join("shards");
    let out = shards.join("report.html");
    let shard = |flags: &[&str]| {
        let mut a = vec![
            "report",
            "--images",
            s(&images),
            "--out",
            s(&out),
            "--shard",
        ];
        a.extend_from_slice(flags);
        camscope_code(&a)
    };
    for i in ["0/2", "1/2"] {
        let (code, _, err) = shard(&[i]);
        assert_eq!(code, Some(0), "{err}");
    }
    assert!(shards.join("report.shard-1-of-2.html").is_file());
    // Shard 1 cut back to its header and one record plus half a line, then resumed.
    let log1 = shards.join("report.shard-1-of-2.jsonl");
    let text = std::fs::read_to_string(&log1).unwrap();
    let kept: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(&log1, format!("{}\n{{\"file\":", kept.join("\n"))).unwrap();
    let (code, _, err) = shard(&["1/2", "--resume"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("1 of 2 photos already done"), "{err}");
    let merged = dir.path().join("merged");
    let (code, _, err) = camscope_code(&["merge", s(&shards), "--out", s(&merged)]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(html_of(&merged.join("report.html")), html_of(&whole));
    assert_eq!(
        std::fs::read_to_string(merged.join("report.jsonl")).unwrap(),
        std::fs::read_to_string(dir.path().join("whole/report.jsonl")).unwrap()
    );
}
