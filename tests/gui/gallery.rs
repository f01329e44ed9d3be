//! The gallery, driven like the rest of the app: a folder of generated photos with labels
//! opened by dropping it, sorted, filtered, clicked through to the inspector and back,
//! cancelled and resumed, scored against boxes, and two models compared.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use camscope::app::CamscopeApp;
use camscope::app::gallery::{Filter, SortKey};
use camscope::app::protocol::ImageSource;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use image::RgbImage;

use super::{ScriptedPicker, asset, harness, settle};

/// Writes `img` as `dir/name`, making folders on the way.
fn save(dir: &Path, name: &str, img: &RgbImage) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    img.save(&p).unwrap();
    p
}

fn photo(name: &str) -> RgbImage {
    image::open(asset(name)).unwrap().to_rgb8()
}

/// Variants of a photo that the built-in model still recognizes: itself, mirrored, and
/// scaled down.
fn variants(img: &RgbImage) -> Vec<RgbImage> {
    let (w, h) = img.dimensions();
    vec![
        img.clone(),
        image::imageops::flip_horizontal(img),
        image::imageops::resize(
            img,
            w * 3 / 4,
            h * 3 / 4,
            image::imageops::FilterType::Triangle,
        ),
    ]
}

/// The class the built-in model gives the sample cat (one of ImageNet's cats, 281–285).
fn cat_class(h: &Harness<'static, CamscopeApp>) -> usize {
    h.state().mirror.explained.as_ref().unwrap().class
}

/// An ImageFolder: cats under their class index, espressos under 967, and one espresso filed
/// as a cat (a confident wrong prediction).
fn image_folder(dir: &Path, cat: usize) {
    for (k, v) in variants(&photo("chelsea.png")).iter().enumerate() {
        save(dir, &format!("{cat}/cat_{k}.png"), v);
    }
    for (k, v) in variants(&photo("coffee.png")).iter().enumerate() {
        save(dir, &format!("967/coffee_{k}.png"), v);
    }
    save(
        dir,
        &format!("{cat}/misfiled_coffee.png"),
        &photo("coffee.png"),
    );
}

/// Steps until the gallery has listed and explained every photo (or stopped).
fn settle_gallery(h: &mut Harness<'static, CamscopeApp>) {
    let start = Instant::now();
    loop {
        h.step();
        let app = h.state();
        let g = app.gallery.as_ref().expect("a gallery is open");
        assert!(g.error.is_none(), "gallery error: {:?}", g.error);
        if g.photos.is_some() && !app.gallery_busy() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "the gallery never settled"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(3);
}

fn shown(h: &Harness<'static, CamscopeApp>) -> Vec<String> {
    let app = h.state();
    let g = app.gallery.as_ref().unwrap();
    let photos = g.photos.as_ref().unwrap();
    g.order(app.prefs.threshold)
        .into_iter()
        .map(|i| photos[i].file.clone())
        .collect()
}

fn choose(h: &mut Harness<'static, CamscopeApp>, combo: &str, option: &str) {
    h.get_by_role_and_label(egui::Role::ComboBox, combo).click();
    h.run_steps(2);
    h.get_by_label(option).click();
    h.run_steps(2);
}

#[test]
fn gallery_opens_a_folder_sorts_filters_and_clicks_through_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(ScriptedPicker::default(), false);
    let cat = cat_class(&h);
    image_folder(dir.path(), cat);
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(super::Dropped(dir.path().to_owned())));
    h.step();
    settle_gallery(&mut h);
    {
        let app = h.state();
        assert!(app.show_gallery);
        let g = app.gallery.as_ref().unwrap();
        assert_eq!(g.photos.as_ref().unwrap().len(), 7);
        assert!(g.truth.contains("class folders"), "{}", g.truth);
        assert_eq!(g.progress(), (7, 7));
        assert!(g.first_screen.is_some(), "the first screen was timed");
    }
    // Every photo is on screen, as a button named by its file.
    h.get_by_label(&format!("Photo {cat}/cat_0.png"));
    h.get_by_label("Photo 967/coffee_2.png");

    // The wrong ones, told apart here from the results themselves: the misfiled espresso
    // and any cat variant the model files under another cat class.
    let (wrong, confident_wrong): (Vec<String>, Vec<String>) = {
        let g = h.state().gallery.as_ref().unwrap();
        let photos = g.photos.as_ref().unwrap();
        let verdicts: Vec<_> = photos
            .iter()
            .zip(&g.results)
            .map(|(p, r)| (p, r.as_ref().unwrap().verdict().unwrap().clone()))
            .filter(|(p, v)| p.class != Some(v.predicted))
            .collect();
        (
            verdicts.iter().map(|(p, _)| p.file.clone()).collect(),
            verdicts
                .iter()
                .filter(|(_, v)| v.probability >= 0.5)
                .map(|(p, _)| p.file.clone())
                .collect(),
        )
    };
    let misfiled = format!("{cat}/misfiled_coffee.png");
    assert!(confident_wrong.contains(&misfiled), "{confident_wrong:?}");
    choose(&mut h, "Show", "wrong");
    assert_eq!(shown(&h), wrong);
    assert!(
        h.query_by_label(&format!("Photo {cat}/cat_0.png"))
            .is_none()
            || wrong.contains(&format!("{cat}/cat_0.png"))
    );
    choose(&mut h, "Show", "confident and wrong (≥ 50 %)");
    assert_eq!(shown(&h), confident_wrong);
    choose(&mut h, "Show", "correct");
    assert_eq!(shown(&h).len(), 7 - wrong.len());
    choose(&mut h, "Show", "all photos");

    // By true class, then sorted by confidence, most confident first.
    choose(&mut h, "True class", "espresso (3)");
    assert_eq!(shown(&h).len(), 3);
    assert!(shown(&h).iter().all(|f| f.starts_with("967/")));
    choose(&mut h, "True class", "any");
    choose(&mut h, "Sort by", "confidence");
    h.get_by_label("Descending").click();
    h.run_steps(2);
    {
        let app = h.state();
        let g = app.gallery.as_ref().unwrap();
        assert_eq!(g.view.sort, SortKey::Confidence);
        let p: Vec<f32> = g
            .order(app.prefs.threshold)
            .iter()
            .map(|&i| {
                g.results[i]
                    .as_ref()
                    .unwrap()
                    .verdict()
                    .unwrap()
                    .probability
            })
            .collect();
        assert!(p.windows(2).all(|w| w[0] >= w[1]), "{p:?}");
    }

    // A click opens the photo in the inspector; Back returns to the same gallery view.
    choose(&mut h, "Show", "wrong");
    h.get_by_label(&format!("Photo {misfiled}")).click();
    h.step();
    settle(&mut h);
    {
        let app = h.state();
        assert!(!app.show_gallery);
        let want = dir.path().join(&misfiled);
        assert_eq!(
            app.mirror.image.as_ref().unwrap().source,
            ImageSource::File(want)
        );
        assert_eq!(app.mirror.explained.as_ref().unwrap().class, 967);
    }
    h.get_by_label("Back to gallery").click();
    h.run_steps(3);
    let app = h.state();
    assert!(app.show_gallery);
    let g = app.gallery.as_ref().unwrap();
    assert_eq!(g.view.filter, Filter::Wrong);
    assert_eq!(g.progress(), (7, 7), "the maps were kept");
}

#[test]
fn gallery_cancel_stops_and_resume_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let cat = photo("chelsea.png");
    for k in 0..40 {
        let small = image::imageops::resize(
            &cat,
            160 + k,
            120 + k,
            image::imageops::FilterType::Triangle,
        );
        save(dir.path(), &format!("p{k:02}.png"), &small);
    }
    // One bad file is one failed photo; the rest go on.
    std::fs::write(dir.path().join("p99_broken.png"), b"not a photo").unwrap();
    let mut h = harness(ScriptedPicker::default(), false);
    drop_file_no_settle(&mut h, dir.path());
    // Cancel as soon as the first photos are in.
    let start = Instant::now();
    loop {
        h.step();
        let done = h.state().gallery.as_ref().unwrap().progress().0;
        if done >= 2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(5));
    }
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    settle_gallery(&mut h);
    let (done, total) = h.state().gallery.as_ref().unwrap().progress();
    assert!(h.state().gallery.as_ref().unwrap().paused);
    assert!(done < total, "stopped early: {done} of {total}");
    // Nothing more comes while stopped.
    std::thread::sleep(Duration::from_millis(300));
    h.run_steps(3);
    assert_eq!(h.state().gallery.as_ref().unwrap().progress().0, done);
    h.get_by_label("Resume").click();
    h.run_steps(2);
    settle_gallery(&mut h);
    assert_eq!(h.state().gallery.as_ref().unwrap().progress(), (41, 41));
    choose(&mut h, "Show", "failed");
    assert_eq!(shown(&h), ["p99_broken.png"]);
    let g = h.state().gallery.as_ref().unwrap();
    let last = g.results[40].as_ref().unwrap();
    let why = last.result.as_ref().unwrap_err();
    assert!(why.starts_with("p99_broken.png: "), "{why}");
    h.get_by_label("Photo p99_broken.png");
}

fn drop_file_no_settle(h: &mut Harness<'static, CamscopeApp>, p: &Path) {
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(super::Dropped(p.to_owned())));
    h.step();
}

/// With a labels CSV holding boxes: each photo's IoU, pointing game and mass outside the box;
/// a box around the cat scores better than one in a corner, and the cats' mean map is drawn.
#[test]
fn gallery_scores_maps_against_boxes_and_draws_a_class_mean_map() {
    let dir = tempfile::tempdir().unwrap();
    let cat = photo("chelsea.png");
    let (w, h_) = cat.dimensions();
    save(dir.path(), "good.png", &cat);
    save(dir.path(), "corner.png", &cat);
    let picker = ScriptedPicker::default();
    let mut h = harness(picker.clone(), false);
    let class = cat_class(&h);
    let csv = dir.path().join("labels.csv");
    std::fs::write(
        &csv,
        format!(
            "file,label,x0,y0,x1,y1\ngood.png,{class},0,0,{w},{h_}\ncorner.png,{class},0,0,{},{}\n",
            w / 8,
            h_ / 8
        ),
    )
    .unwrap();
    drop_file_no_settle(&mut h, dir.path());
    settle_gallery(&mut h);
    assert!(
        h.state()
            .gallery
            .as_ref()
            .unwrap()
            .truth
            .contains("no ground truth")
    );
    picker
        .answers
        .lock()
        .unwrap()
        .push_back(camscope::app::picker::Picked::File(csv.clone()));
    h.get_by_label("Labels CSV…").click();
    h.run_steps(2);
    settle_gallery(&mut h);
    let app = h.state();
    let g = app.gallery.as_ref().unwrap();
    assert!(g.truth.contains("labels.csv"), "{}", g.truth);
    let photos = g.photos.as_ref().unwrap();
    let fig = |name: &str| {
        let i = photos.iter().position(|p| p.file == name).unwrap();
        camscope::app::gallery::order::figures(&photos[i], g.results[i].as_deref(), 0.2)
    };
    let (good, corner) = (fig("good.png"), fig("corner.png"));
    // The whole photo as the box: everything inside, the map's maximum a hit.
    assert_eq!(good.outside, Some(0.0));
    assert_eq!(good.pointing, Some(true));
    assert!(good.iou.unwrap() > corner.iou.unwrap());
    assert!(corner.outside.unwrap() > 0.9, "{corner:?}");
    assert_eq!(corner.pointing, Some(false));

    // Sorted by mass outside, descending: the corner box first.
    choose(&mut h, "Sort by", "map mass outside the box");
    h.get_by_label("Descending").click();
    h.run_steps(2);
    assert_eq!(shown(&h), ["corner.png", "good.png"]);
    choose(
        &mut h,
        "Show",
        "right for the wrong reason (over half the map off the box)",
    );
    assert_eq!(shown(&h), ["corner.png"]);

    let name = h.state().mirror.model.as_ref().unwrap().class_names[class].clone();
    choose(&mut h, "Class", &format!("{name} (2)"));
    h.run_steps(2);
    let (mean, n) = h.state().gallery.as_ref().unwrap().mean_map().unwrap();
    assert_eq!(n, 2);
    assert!(mean.max() > 0.5);
    h.get_by_label("Mean map");
}

/// A second model beside the first: the gallery has both verdicts and their disagreement,
/// sorts by it, and an inspector pane explains with the second model.
#[test]
fn a_second_model_is_compared_in_the_gallery_and_in_a_pane() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(ScriptedPicker::default(), false);
    image_folder(dir.path(), cat_class(&h));
    // The resnet fixture (random weights): predictions unrelated to the built-in model's.
    h.state_mut()
        .command(camscope::app::Command::OpenSecondModel(Some(
            super::fixture("resnet_basic/model.safetensors"),
        )));
    settle(&mut h);
    assert!(h.state().mirror.second.is_some());
    drop_file_no_settle(&mut h, dir.path());
    settle_gallery(&mut h);
    {
        let app = h.state();
        let g = app.gallery.as_ref().unwrap();
        for r in &g.results {
            let c = r.as_ref().unwrap();
            assert!(c.second.as_ref().unwrap().is_ok());
            let d = c.disagreement().unwrap();
            assert!((0.0..=2.0).contains(&d));
        }
    }
    choose(&mut h, "Sort by", "disagreement of the models");
    h.get_by_label("Descending").click();
    h.run_steps(2);
    {
        let app = h.state();
        let g = app.gallery.as_ref().unwrap();
        let d: Vec<f32> = g
            .order(app.prefs.threshold)
            .iter()
            .map(|&i| g.results[i].as_ref().unwrap().disagreement().unwrap())
            .collect();
        assert!(d.windows(2).all(|w| w[0] >= w[1]), "{d:?}");
    }
    // In the inspector, compare pane 2 explains with model B.
    h.get_by_label("Inspector").click();
    h.run_steps(2);
    h.state_mut()
        .command(camscope::app::Command::SetCompare(true));
    settle(&mut h);
    let b_name = format!(
        "B: {}",
        h.state().mirror.second.as_ref().unwrap().architecture
    );
    choose(&mut h, "Pane 2 Model", &b_name);
    settle(&mut h);
    let e = h.state().mirror.explained.as_ref().unwrap();
    let b = e.panes[1].as_ref().unwrap();
    assert!(b.second);
    assert!(!e.panes[0].as_ref().unwrap().second);
    let size = h.state().mirror.second.as_ref().unwrap().input_size;
    assert_eq!(b.mapping.input, (size.0 as u32, size.1 as u32));
}
