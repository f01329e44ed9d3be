//! The report's HTML: one self-contained file (thumbnails as data URLs, the script and style
//! inline, nothing fetched), readable without its script; the script sorts and filters the
//! table and reads `#sort=KEY[-desc]&filter=NAME` from the address, so that a view can be
//! linked (and tested in a headless browser).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// `&`, `<`, `>`, `"` and `'` escaped for text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}th,td{border-bottom:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:middle}th[data-key]{cursor:pointer;user-select:none}
th[data-key]:hover{background:#eef}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.wrong td.pred{color:#b00}tr.right td.pred{color:#070}img{display:block}
pre{background:#f6f6f6;padding:.8em;overflow:auto;max-height:30em}.na{color:#999}
th[aria-sort=ascending]::after{content:' ▲'}th[aria-sort=descending]::after{content:' ▼'}";

/// Sorting, filtering and the address's view; marks the body `data-ready` and `data-shown`.
const SCRIPT: &str = r#"(function () {
  const body = document.querySelector('#photos tbody');
  const rows = Array.from(body.rows);
  const heads = Array.from(document.querySelectorAll('#photos th[data-key]'));
  const filter = document.getElementById('filter');
  function value(r, key, num) {
    const v = r.dataset[key];
    if (num) { return v === undefined || v === '' ? NaN : parseFloat(v); }
    return v || '';
  }
  function sort(key, desc) {
    const th = heads.find(h => h.dataset.key === key);
    if (!th) { return; }
    const num = th.dataset.type === 'num';
    const sorted = rows.slice().sort((a, b) => {
      let x = value(a, key, num), y = value(b, key, num);
      if (num) {
        if (isNaN(x) && isNaN(y)) { return 0; }
        if (isNaN(x)) { return 1; }
        if (isNaN(y)) { return -1; }
        return desc ? y - x : x - y;
      }
      // Code-point order, as the rows were written (sorted paths).
      const c = x < y ? -1 : x > y ? 1 : 0;
      return desc ? -c : c;
    });
    sorted.forEach(r => body.appendChild(r));
    heads.forEach(h => h.removeAttribute('aria-sort'));
    th.setAttribute('aria-sort', desc ? 'descending' : 'ascending');
  }
  const tests = {
    all: () => true,
    wrong: r => r.dataset.correct === '0',
    'confident-wrong': r => r.dataset.correct === '0' && parseFloat(r.dataset.probability) >= 0.5,
    'wrong-reason': r => r.dataset.correct === '1' && parseFloat(r.dataset.outside) > 0.5,
    failed: r => r.dataset.failed === '1',
  };
  function apply(name) {
    const t = tests[name] || tests.all;
    let shown = 0;
    rows.forEach(r => { const on = t(r); r.hidden = !on; shown += on; });
    document.body.dataset.shown = shown;
  }
  heads.forEach(h => h.addEventListener('click', () => {
    sort(h.dataset.key, h.getAttribute('aria-sort') === 'ascending');
  }));
  filter.addEventListener('change', () => apply(filter.value));
  const view = new URLSearchParams(location.hash.slice(1));
  if (view.get('sort')) {
    const s = view.get('sort');
    const desc = s.endsWith('-desc');
    sort(desc ? s.slice(0, -5) : s, desc);
  }
  if (view.get('filter')) { filter.value = view.get('filter'); }
  apply(filter.value);
  document.body.dataset.ready = '1';
})();"#;

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn cell(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) => format!("<td class=num>{x:.digits$}</td>"),
        None => "<td class=na>–</td>".to_owned(),
    }
}

fn attr(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

/// The whole page: summary, per-class table, the photos' table, the settings.
pub fn page(settings: &Value, records: &[Value]) -> String {
    let methods = super::strings(&settings["methods"]);
    let first = methods.first().copied().unwrap_or("gradcam");
    let ok: Vec<&Value> = records
        .iter()
        .filter(|r| r.get("error").is_none())
        .collect();
    let labelled: Vec<&&Value> = ok.iter().filter(|r| r["correct"].is_boolean()).collect();
    let has_boxes = ok
        .iter()
        .any(|r| r["truth_boxes"].as_array().is_some_and(|b| !b.is_empty()));
    let faithfulness = settings["faithfulness"].is_u64();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width\">\
         <title>camscope report: {}</title><style>{STYLE}</style></head>\n<body>\n\
         <h1>camscope report</h1>\n<p>{} photos of <code>{}</code>, {} failed; model <code>{}</code>; \
         {} at <code>{}</code>, maps of the predicted class.",
        escape(settings["images"].as_str().unwrap_or("")),
        records.len(),
        escape(settings["images"].as_str().unwrap_or("")),
        records.len() - ok.len(),
        escape(settings["model"]["file"].as_str().unwrap_or("")),
        escape(&methods.join(", ")),
        escape(settings["layer"].as_str().unwrap_or("")),
    );
    if !labelled.is_empty() {
        let right = labelled.iter().filter(|r| r["correct"] == true).count();
        let _ = write!(
            h,
            " Accuracy {:.1} % ({right} of {}).",
            100.0 * right as f64 / labelled.len() as f64,
            labelled.len()
        );
    }
    h.push_str("</p>\n");
    if !labelled.is_empty() {
        h.push_str(&per_class(&labelled, first, has_boxes));
    }
    h.push_str(
        "<h2>Photos</h2>\n<p><label>Show <select id=filter aria-label=\"Which photos to show\">\
         <option value=all>all</option><option value=wrong>wrong predictions</option>\
         <option value=confident-wrong>confident and wrong (≥ 50 %)</option>\
         <option value=wrong-reason>right for the wrong reason (correct, over half the map \
         outside the box)</option><option value=failed>failed</option></select></label> \
         Click a column's title to sort by it.</p>\n<table id=photos><thead><tr>",
    );
    for m in &methods {
        let _ = write!(h, "<th>{}</th>", escape(m));
    }
    let mut heads = vec![
        ("file", "photo", ""),
        ("predicted", "predicted", ""),
        ("probability", "confidence", "num"),
    ];
    if !labelled.is_empty() {
        heads.push(("truth", "true class", ""));
        heads.push(("correct", "correct", "num"));
    }
    if has_boxes {
        heads.push(("iou", "IoU", "num"));
        heads.push(("pointing", "pointing", "num"));
        heads.push(("outside", "map outside box", "num"));
    }
    if faithfulness {
        heads.push(("deletion", "deletion AUC", "num"));
        heads.push(("insertion", "insertion AUC", "num"));
    }
    for (key, title, kind) in &heads {
        let t = if kind.is_empty() {
            String::new()
        } else {
            format!(" data-type={kind}")
        };
        let _ = write!(h, "<th data-key={key}{t}>{title}</th>");
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for r in records {
        h.push_str(&row(r, &methods, first, &heads));
    }
    h.push_str("</tbody></table>\n<h2>Settings</h2>\n<p>What made this report; ");
    h.push_str("the same camscope with these settings makes it again.</p>\n<pre>");
    h.push_str(&escape(
        &serde_json::to_string_pretty(settings).unwrap_or_default(),
    ));
    let _ = write!(h, "</pre>\n<script>{SCRIPT}</script>\n</body></html>\n");
    h
}

fn row(r: &Value, methods: &[&str], first: &str, heads: &[(&str, &str, &str)]) -> String {
    let file = escape(r["file"].as_str().unwrap_or(""));
    if let Some(e) = r["error"].as_str() {
        return format!(
            "<tr data-file=\"{file}\" data-failed=1><td colspan={}>{file}: <b>failed</b>: {}</td></tr>\n",
            methods.len() + heads.len(),
            escape(e)
        );
    }
    let m = &r["methods"][first];
    let correct = r["correct"].as_bool();
    let data: BTreeMap<&str, String> = [
        ("file", file.clone()),
        (
            "predicted",
            escape(r["predicted_label"].as_str().unwrap_or("")),
        ),
        ("probability", attr(num(&r["probability"]))),
        ("truth", escape(r["true_label"].as_str().unwrap_or(""))),
        (
            "correct",
            correct.map(|c| (c as u8).to_string()).unwrap_or_default(),
        ),
        ("iou", attr(num(&m["iou"]))),
        (
            "pointing",
            m["pointing"]
                .as_bool()
                .map(|p| (p as u8).to_string())
                .unwrap_or_default(),
        ),
        ("outside", attr(num(&m["outside"]))),
        ("deletion", attr(num(&m["deletion_auc"]))),
        ("insertion", attr(num(&m["insertion_auc"]))),
    ]
    .into_iter()
    .collect();
    let class = match correct {
        Some(true) => " class=right",
        Some(false) => " class=wrong",
        None => "",
    };
    let mut h = format!("<tr{class}");
    for (k, v) in &data {
        let _ = write!(h, " data-{k}=\"{v}\"");
    }
    h.push('>');
    for name in methods {
        let mm = &r["methods"][*name];
        match (mm["thumbnail"].as_str(), mm["error"].as_str()) {
            (Some(src), _) => {
                let _ = write!(
                    h,
                    "<td><img src=\"{src}\" alt=\"{} on {file}\" loading=lazy></td>",
                    escape(name)
                );
            }
            (None, why) => {
                let _ = write!(h, "<td class=na>{}</td>", escape(why.unwrap_or("n/a")));
            }
        }
    }
    for (key, _, _) in heads {
        let cell_html = match *key {
            "file" => format!("<td>{file}</td>"),
            "predicted" => format!("<td class=pred>{}</td>", data["predicted"]),
            "probability" => cell(num(&r["probability"]).map(|p| 100.0 * p), 1),
            "truth" => format!("<td>{}</td>", data["truth"]),
            "correct" => format!(
                "<td>{}</td>",
                match correct {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "–",
                }
            ),
            "iou" => cell(num(&m["iou"]), 2),
            "pointing" => format!(
                "<td>{}</td>",
                match m["pointing"].as_bool() {
                    Some(true) => "hit",
                    Some(false) => "miss",
                    None => "–",
                }
            ),
            "outside" => cell(num(&m["outside"]).map(|p| 100.0 * p), 0),
            "deletion" => cell(num(&m["deletion_auc"]), 3),
            "insertion" => cell(num(&m["insertion_auc"]), 3),
            _ => String::new(),
        };
        h.push_str(&cell_html);
    }
    h.push_str("</tr>\n");
    h
}

/// Per true class: photos, accuracy, and where boxes exist the mean IoU, pointing game and
/// share of the map outside the box, of the first method.
fn per_class(labelled: &[&&Value], method: &str, has_boxes: bool) -> String {
    #[derive(Default)]
    struct Sums {
        n: usize,
        right: usize,
        iou: (f64, usize),
        pointing: (usize, usize),
        outside: (f64, usize),
    }
    let mut by: BTreeMap<String, Sums> = BTreeMap::new();
    for r in labelled {
        let s = by
            .entry(r["true_label"].as_str().unwrap_or("").to_owned())
            .or_default();
        s.n += 1;
        s.right += (r["correct"] == true) as usize;
        let m = &r["methods"][method];
        if let Some(v) = m["iou"].as_f64() {
            s.iou.0 += v;
            s.iou.1 += 1;
        }
        if let Some(p) = m["pointing"].as_bool() {
            s.pointing.0 += p as usize;
            s.pointing.1 += 1;
        }
        if let Some(v) = m["outside"].as_f64() {
            s.outside.0 += v;
            s.outside.1 += 1;
        }
    }
    let mean = |(sum, n): (f64, usize)| (n > 0).then(|| sum / n as f64);
    let mut h = format!(
        "<h2>Per class</h2>\n<table id=classes><thead><tr><th>true class</th><th>photos</th>\
         <th>accuracy %</th>{}</tr></thead>\n<tbody>\n",
        if has_boxes {
            format!(
                "<th>mean IoU ({m})</th><th>pointing % ({m})</th><th>map outside box % ({m})</th>",
                m = escape(method)
            )
        } else {
            String::new()
        }
    );
    for (class, s) in &by {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=num>{}</td>{}",
            escape(class),
            s.n,
            cell(Some(100.0 * s.right as f64 / s.n as f64), 1)
        );
        if has_boxes {
            h.push_str(&cell(mean(s.iou), 2));
            let p = (s.pointing.1 > 0).then(|| 100.0 * s.pointing.0 as f64 / s.pointing.1 as f64);
            h.push_str(&cell(p, 1));
            h.push_str(&cell(mean(s.outside).map(|v| 100.0 * v), 0));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
    h
}
