//! The real app, driven headlessly with egui_kittest: clicks by label, sliders through
//! AccessKit, dropped files, scripted file dialogs. Snapshots render with wgpu on Mesa's
//! llvmpipe (`WGPU_BACKEND=gl`); regenerate them with `UPDATE_SNAPSHOTS=1 cargo test --test gui`.
#![cfg(feature = "gui")]

mod common;
#[path = "gui/gallery.rs"]
mod gallery;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use camscope::app::CamscopeApp;
use camscope::app::picker::{FilePicker, PickDone, PickKind, Picked};
use camscope::app::prefs::Prefs;
use camscope::app::protocol::ImageSource;
use camscope::engine::Method;
use camscope::engine::render::{caption_height, stroke_for};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use image::RgbImage;

/// Answers file dialogs from a script; records what was asked.
#[derive(Clone, Default)]
struct ScriptedPicker {
    answers: Arc<Mutex<VecDeque<Picked>>>,
    asked: Arc<Mutex<Vec<PickKind>>>,
}

impl FilePicker for ScriptedPicker {
    fn pick(&self, kind: PickKind, done: PickDone) {
        self.asked.lock().unwrap().push(kind);
        let answer = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Picked::Cancelled);
        done(answer);
    }
}

fn harness(picker: ScriptedPicker, snapshots: bool) -> Harness<'static, CamscopeApp> {
    let mut b = Harness::builder().with_size([1280.0, 800.0]);
    if snapshots {
        b = b.wgpu();
    }
    let mut h = b.build_eframe(move |cc| {
        CamscopeApp::with_prefs(cc.egui_ctx.clone(), Prefs::default(), Box::new(picker))
    });
    settle(&mut h);
    h
}

/// Steps the UI until the worker has nothing left to do (the worker runs on its own thread).
fn settle(h: &mut Harness<'static, CamscopeApp>) {
    let start = Instant::now();
    loop {
        h.step();
        if !h.state().is_busy() && h.state().mirror.explained.is_some() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the app never settled"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A few more frames for textures and layout.
    for _ in 0..3 {
        h.step();
    }
}

/// A file dropped on the window, as the native backend hands it over.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn drop_file(h: &mut Harness<'static, CamscopeApp>, path: PathBuf) {
    h.input_mut().dropped_files.push(Arc::new(Dropped(path)));
    h.step();
    settle(h);
}

fn map_of(h: &Harness<'static, CamscopeApp>, pane: usize) -> Vec<f32> {
    let e = h.state().mirror.explained.as_ref().expect("explained");
    e.panes[pane]
        .as_ref()
        .expect("pane ok")
        .explanation
        .map
        .data
        .clone()
}

#[test]
fn startup_shows_a_map_and_a_box() {
    let mut h = harness(ScriptedPicker::default(), true);
    let app = h.state();
    assert_eq!(
        app.mirror.image.as_ref().unwrap().source,
        ImageSource::Sample
    );
    let e = app.mirror.explained.as_ref().unwrap();
    assert_eq!(e.panes.len(), 1);
    let p = e.panes[0].as_ref().unwrap();
    assert_eq!(p.method.name(), "gradcam");
    assert_eq!(p.layer, "_head_act");
    assert!((281..=285).contains(&e.class), "top-1 of chelsea is a cat");
    assert!(!app.pane_boxes(0).is_empty(), "a box is shown");
    h.get_by_role_and_label(egui::Role::Slider, "Threshold");
    h.snapshot("main_view");
}

#[test]
fn dropped_image_produces_a_new_map() {
    let mut h = harness(ScriptedPicker::default(), false);
    let before = map_of(&h, 0);
    drop_file(&mut h, asset("coffee.png"));
    let app = h.state();
    assert_eq!(
        app.mirror.image.as_ref().unwrap().source,
        ImageSource::File(asset("coffee.png"))
    );
    assert_eq!(app.mirror.explained.as_ref().unwrap().class, 967);
    assert_ne!(map_of(&h, 0), before);
}

#[test]
fn choosing_another_class_changes_the_map() {
    let mut h = harness(ScriptedPicker::default(), false);
    let before = map_of(&h, 0);
    let (second, text) = {
        let app = h.state();
        let p = &app.mirror.image.as_ref().unwrap().predictions[1];
        let name = app.mirror.model.as_ref().unwrap().class_names[p.class].clone();
        (p.class, format!("{name}  {:.1}%", p.probability * 100.0))
    };
    h.get_by_label(&text).click();
    h.step();
    settle(&mut h);
    assert_eq!(h.state().mirror.explained.as_ref().unwrap().class, second);
    assert_ne!(map_of(&h, 0), before);
}

#[test]
fn moving_the_threshold_slider_moves_the_box() {
    let mut h = harness(ScriptedPicker::default(), false);
    let before = h.state().pane_boxes(0);
    let generation = h.state().mirror.explained.as_ref().unwrap().generation;
    h.get_by_role_and_label(egui::Role::Slider, "Threshold")
        .set_value_accesskit(0.8);
    h.step();
    h.step();
    let app = h.state();
    assert!((app.prefs.threshold - 0.8).abs() < 1e-6);
    let after = app.pane_boxes(0);
    assert_ne!(after, before);
    assert!(
        after[0].area() < before[0].area(),
        "a higher threshold keeps less"
    );
    // No new model work: the box follows from the map already there.
    assert_eq!(
        app.mirror.explained.as_ref().unwrap().generation,
        generation
    );
    assert!(!app.is_busy());
}

#[test]
fn compare_mode_shows_three_panes() {
    let mut h = harness(ScriptedPicker::default(), true);
    h.get_by_label("Compare methods side by side").click();
    h.step();
    settle(&mut h);
    let e = h.state().mirror.explained.as_ref().unwrap();
    let methods: Vec<&str> = e
        .panes
        .iter()
        .map(|p| p.as_ref().unwrap().method.name())
        .collect();
    assert_eq!(methods, ["cam", "gradcam", "guided-gradcam"]);
    h.get_by_label("Photo pane 3");
    h.snapshot("compare_view");
}

#[test]
fn cam_on_a_fully_connected_vgg_says_why_in_its_pane() {
    let mut h = harness(ScriptedPicker::default(), false);
    h.get_by_label("Compare methods side by side").click();
    h.step();
    settle(&mut h);
    drop_file(&mut h, fixture("vgg/model.safetensors"));
    let e = h.state().mirror.explained.as_ref().unwrap();
    let why = e.panes[0].as_ref().err().expect("CAM fails on VGG");
    assert!(why.contains("fully connected"), "{why}");
    assert!(e.panes[1].is_ok(), "Grad-CAM still works");
}

#[test]
fn export_writes_a_png_of_the_photo_size() {
    let dir = temp_dir();
    let out = dir.path().join("chelsea.annotated.png");
    let picker = ScriptedPicker::default();
    picker
        .answers
        .lock()
        .unwrap()
        .push_back(Picked::File(out.clone()));
    let mut h = harness(picker.clone(), false);
    h.get_by_label("File").click();
    h.run_steps(3);
    h.get_by_label("Export annotated PNG…").click();
    h.step();
    let start = Instant::now();
    while h.state().mirror.last_export.is_none() {
        h.step();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            h.state().mirror.status.text
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(matches!(
        picker.asked.lock().unwrap()[0],
        PickKind::Save { .. }
    ));
    let png = image::open(&out).unwrap();
    assert_eq!(
        (png.width(), png.height()),
        (451, 300 + caption_height(451))
    );
    assert!(h.state().mirror.status.text.contains("saved"));
}

#[test]
fn dropped_non_image_shows_an_error_and_the_next_image_still_works() {
    let dir = temp_dir();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not a photo").unwrap();
    let mut h = harness(ScriptedPicker::default(), false);
    let generation = h.state().mirror.explained.as_ref().unwrap().generation;
    drop_file(&mut h, notes.clone());
    {
        let app = h.state();
        assert!(app.mirror.status.error);
        assert!(
            app.mirror.status.text.contains("notes.txt"),
            "{}",
            app.mirror.status.text
        );
        // The previous image and map stay.
        assert_eq!(
            app.mirror.image.as_ref().unwrap().source,
            ImageSource::Sample
        );
        assert_eq!(
            app.mirror.explained.as_ref().unwrap().generation,
            generation
        );
    }
    drop_file(&mut h, asset("coffee.png"));
    let app = h.state();
    assert!(!app.mirror.status.error, "{}", app.mirror.status.text);
    assert_eq!(app.mirror.explained.as_ref().unwrap().class, 967);
}

#[test]
fn unreadable_saved_photo_leaves_the_app_idle_with_an_error() {
    let dir = temp_dir();
    let bad = dir.path().join("gone.png");
    std::fs::write(&bad, "no longer a photo").unwrap();
    let prefs = Prefs {
        image: Some(bad),
        ..Prefs::default()
    };
    let mut h = Harness::builder()
        .with_size([1280.0, 800.0])
        .build_eframe(move |cc| {
            CamscopeApp::with_prefs(
                cc.egui_ctx.clone(),
                prefs,
                Box::new(ScriptedPicker::default()),
            )
        });
    let start = Instant::now();
    loop {
        h.step();
        let app = h.state();
        if app.mirror.model.is_some() && !app.is_busy() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "never idle");
        std::thread::sleep(Duration::from_millis(20));
    }
    let app = h.state();
    assert!(app.mirror.status.error, "{}", app.mirror.status.text);
    assert!(
        app.mirror.status.text.contains("gone.png"),
        "{}",
        app.mirror.status.text
    );
    assert!(app.mirror.explained.is_none());
}

/// Writes pane 0 through File → Export annotated PNG and waits for the worker to save it.
fn export_annotated(h: &mut Harness<'static, CamscopeApp>, picker: &ScriptedPicker, out: &Path) {
    picker
        .answers
        .lock()
        .unwrap()
        .push_back(Picked::File(out.to_owned()));
    h.get_by_label("File").click();
    h.run_steps(3);
    h.get_by_label("Export annotated PNG…").click();
    h.step();
    let start = Instant::now();
    while h.state().mirror.last_export.as_deref() != Some(out) {
        h.step();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            h.state().mirror.status.text
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The window and the exported PNG come from one drawing function: with a non-default style,
/// every pixel of the pane on screen equals the export's (box outlines aside, which the canvas
/// draws as strokes so that they follow the threshold live).
#[test]
fn canvas_pixels_equal_the_exported_png() {
    let dir = temp_dir();
    let out = dir.path().join("pane.png");
    let picker = ScriptedPicker::default();
    let mut h = harness(picker.clone(), false);
    h.get_by_role_and_label(egui::Role::Slider, "Image weight")
        .set_value_accesskit(0.3);
    h.get_by_label("Transparent where low").scroll_to_me();
    h.run_steps(3);
    h.get_by_label("Transparent where low").click();
    h.step();
    settle(&mut h);
    export_annotated(&mut h, &picker, &out);
    let app = h.state();
    assert!((app.prefs.image_weight - 0.3).abs() < 1e-6);
    assert!(app.prefs.alpha_by_value);
    let shown = app.pane_pixels(0).expect("pane 0 is drawn");
    let png = image::open(&out).unwrap().to_rgb8();
    let (w, h_) = shown.dimensions();
    assert_eq!(
        (w, h_),
        (451, 300),
        "the sample photo is shown at full size"
    );
    assert_eq!(png.dimensions(), (w, h_ + caption_height(w)));
    let t = stroke_for(w, h_) as i64;
    let boxes: Vec<[i64; 4]> = app.pane_boxes(0).iter().map(|b| b.to_pixels()).collect();
    assert!(!boxes.is_empty());
    let on_outline = |x: i64, y: i64| {
        boxes.iter().any(|&[x0, y0, x1, y1]| {
            (x0..x1).contains(&x)
                && (y0..y1).contains(&y)
                && (x < x0 + t || x >= x1 - t || y < y0 + t || y >= y1 - t)
        })
    };
    let mut compared = 0;
    for (x, y, p) in shown.enumerate_pixels() {
        if on_outline(x as i64, y as i64) {
            continue;
        }
        assert_eq!(p, png.get_pixel(x, y), "pixel ({x}, {y})");
        compared += 1;
    }
    assert!(
        compared > (w * h_) as usize * 9 / 10,
        "{compared} pixels compared"
    );
}

/// Opens the single view's method picker and chooses `title`.
fn choose_method(h: &mut Harness<'static, CamscopeApp>, title: &str) {
    h.get_by_role_and_label(egui::Role::ComboBox, "Method")
        .click();
    h.run_steps(2);
    h.get_by_label(title).click();
    h.step();
}

/// Every method is in the picker, and choosing one explains with it.
#[test]
fn every_method_is_in_the_picker() {
    let mut h = harness(ScriptedPicker::default(), false);
    h.get_by_role_and_label(egui::Role::ComboBox, "Method")
        .click();
    h.run_steps(2);
    for m in Method::ALL {
        h.get_by_label(m.title());
    }
    h.get_by_label(Method::LayerCam.title()).click();
    h.step();
    settle(&mut h);
    let e = h.state().mirror.explained.as_ref().unwrap();
    assert_eq!(e.panes[0].as_ref().unwrap().method, Method::LayerCam);
}

/// Waits until Score-CAM (or another slow method) has reported progress.
fn wait_for_progress(h: &mut Harness<'static, CamscopeApp>) {
    let start = Instant::now();
    while h.state().mirror.progress.is_none() {
        h.step();
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no progress shown"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Score-CAM runs a forward pass per channel: the status bar shows how far it is; choosing
/// another method stops it and shows that method's map; Cancel stops it and keeps the map.
#[test]
fn slow_method_shows_progress_and_can_be_cancelled() {
    let mut h = harness(ScriptedPicker::default(), false);
    choose_method(&mut h, "Score-CAM");
    wait_for_progress(&mut h);
    let p = h.state().mirror.progress.clone().unwrap();
    assert_eq!(p.method, Method::ScoreCam);
    assert_eq!(p.total, 1280, "one forward pass per channel of _head_act");
    h.get_by_label(&format!("Score-CAM (pane 1): {} / 1280 channels", p.done));

    // Choosing something else stops it and explains the new choice.
    choose_method(&mut h, "Grad-CAM++");
    let start = Instant::now();
    settle(&mut h);
    assert!(start.elapsed() < Duration::from_secs(60));
    let e = h.state().mirror.explained.as_ref().unwrap();
    assert_eq!(e.panes[0].as_ref().unwrap().method, Method::GradCamPlusPlus);
    let before = map_of(&h, 0);

    // Cancel stops it; the previous map stays.
    choose_method(&mut h, "Score-CAM");
    wait_for_progress(&mut h);
    h.get_by_label("Cancel").click();
    h.step();
    let start = Instant::now();
    while h.state().is_busy() {
        h.step();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "cancel did not stop the work"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let app = h.state();
    assert!(
        app.mirror.status.text.contains("cancelled"),
        "{}",
        app.mirror.status.text
    );
    assert!(app.mirror.progress.is_none());
    assert_eq!(map_of(&h, 0), before, "the previous map stays");
}

/// With one colour scale the compare panes show raw maps against a shared minimum and maximum:
/// at the last layer Grad-CAM is CAM / Z, so its pane is far flatter than CAM's.
#[test]
fn compare_panes_can_share_one_colour_scale() {
    let mut h = harness(ScriptedPicker::default(), false);
    h.get_by_label("Compare methods side by side").click();
    h.step();
    settle(&mut h);
    let own: Vec<RgbImage> = (0..2)
        .map(|i| h.state().pane_pixels(i).unwrap().clone())
        .collect();
    // The display section is below the fold in compare mode.
    h.get_by_label("One colour scale for all panes")
        .scroll_to_me();
    h.run_steps(3);
    h.get_by_label("One colour scale for all panes").click();
    h.step();
    settle(&mut h);
    assert!(h.state().prefs.shared_scale);
    let shared: Vec<RgbImage> = (0..2)
        .map(|i| h.state().pane_pixels(i).unwrap().clone())
        .collect();
    assert_ne!(
        own[1], shared[1],
        "Grad-CAM's pane is redrawn on the shared scale"
    );
    let spread = |img: &RgbImage| {
        let reds: Vec<u8> = img.pixels().map(|p| p.0[0]).collect();
        reds.iter().max().unwrap() - reds.iter().min().unwrap()
    };
    assert!(
        spread(&shared[1]) < spread(&shared[0]),
        "Grad-CAM = CAM / Z spans a smaller part of the shared scale"
    );
}

/// `camscope view IMG --model M` opens the app on those files (and remembers them).
#[test]
fn startup_files_are_opened_and_remembered() {
    let startup = camscope::app::Startup {
        image: Some(asset("coffee.png")),
        model: Some(fixture("resnet_basic/model.safetensors")),
        folder: None,
    };
    let prefs = startup.apply(Prefs::default());
    assert_eq!(prefs.recent_images, [asset("coffee.png")]);
    let mut h = Harness::builder()
        .with_size([1280.0, 800.0])
        .build_eframe(move |cc| {
            CamscopeApp::with_prefs(
                cc.egui_ctx.clone(),
                prefs,
                Box::new(ScriptedPicker::default()),
            )
        });
    settle(&mut h);
    let app = h.state();
    assert_eq!(
        app.mirror.image.as_ref().unwrap().source,
        ImageSource::File(asset("coffee.png"))
    );
    assert!(
        app.mirror
            .model
            .as_ref()
            .unwrap()
            .name
            .ends_with("model.safetensors")
    );
}

/// A transformers checkpoint dropped on the window: its class names and preprocessing come
/// from the config files next to it, and the model panel says so.
#[test]
fn dropped_transformers_model_uses_its_metadata() {
    let mut h = harness(ScriptedPicker::default(), false);
    settle(&mut h);
    drop_file(&mut h, fixture("hf_resnet/model.safetensors"));
    let m = h.state().mirror.model.as_ref().unwrap();
    assert!(
        m.architecture.contains("transformers ResNet"),
        "{}",
        m.architecture
    );
    assert_eq!(m.class_names[8], "hen");
    assert_eq!(m.default_layer, "resnet.encoder.stages.3");
    assert!(m.preprocess.contains("bicubic"), "{}", m.preprocess);
    h.get_by_label("config.json + preprocessor_config.json (transformers)");
    assert!(h.state().mirror.explained.as_ref().unwrap().panes[0].is_ok());
}

/// Bad files dropped one after another (the CLI corpus's kinds): each shows its message naming
/// the file, and the photo and model before it keep working; good files in between are used.
#[test]
fn a_sequence_of_bad_and_good_drops() {
    let dir = temp_dir();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let mut cut_jpeg = Vec::new();
    image::open(asset("coffee.png"))
        .unwrap()
        .to_rgb8()
        .write_to(
            &mut std::io::Cursor::new(&mut cut_jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    cut_jpeg.truncate(cut_jpeg.len() * 2 / 3);
    let mut huge_png = b"\x89PNG\r\n\x1a\n".to_vec();
    huge_png.extend(b"\0\0\0\x0dIHDR\0\0\x4e\x20\0\0\x4e\x20\x08\x02\0\0\0");
    let bad: Vec<(PathBuf, &str)> = vec![
        (write("notes.png", b"not a photo"), "notes.png"),
        (write("empty.jpg", b""), "empty.jpg"),
        (write("huge.png", &huge_png), "huge.png"),
        (
            write("broken.safetensors", b"\x10\0\0\0\0\0\0\0{not json}"),
            "broken.safetensors",
        ),
        (
            write("mystery.safetensors", &{
                let h = br#"{"x.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
                let mut v = (h.len() as u64).to_le_bytes().to_vec();
                v.extend(h);
                v.extend([0u8; 4]);
                v
            }),
            "unknown model layout",
        ),
    ];
    let mut h = harness(ScriptedPicker::default(), false);
    drop_file(&mut h, asset("coffee.png"));
    let class = h.state().mirror.explained.as_ref().unwrap().class;
    for (path, fragment) in &bad {
        drop_file(&mut h, path.clone());
        let app = h.state();
        assert!(
            app.mirror.status.error,
            "{}: {}",
            path.display(),
            app.mirror.status.text
        );
        assert!(
            app.mirror.status.text.contains(fragment),
            "{fragment}: {}",
            app.mirror.status.text
        );
        assert_eq!(
            app.mirror.image.as_ref().unwrap().source,
            ImageSource::File(asset("coffee.png"))
        );
        assert!(
            app.mirror
                .model
                .as_ref()
                .unwrap()
                .name
                .contains("efficientnet")
        );
        // The photo and model before still explain: choosing another method works.
        let e = app.mirror.explained.as_ref().unwrap();
        assert_eq!(e.class, class);
        assert!(e.panes[0].is_ok());
    }
    // A truncated JPEG opens, with a warning in the status line.
    drop_file(&mut h, write("cut.jpg", &cut_jpeg));
    let app = h.state();
    assert!(
        app.mirror.status.text.contains("ends early"),
        "{}",
        app.mirror.status.text
    );
    assert!(app.mirror.explained.as_ref().unwrap().panes[0].is_ok());
    // A good photo and a good model after all that are used.
    drop_file(&mut h, asset("coffee.png"));
    drop_file(&mut h, fixture("resnet_basic/model.safetensors"));
    let app = h.state();
    assert!(!app.mirror.status.error, "{}", app.mirror.status.text);
    assert!(
        app.mirror
            .model
            .as_ref()
            .unwrap()
            .name
            .ends_with("resnet_basic/model.safetensors")
    );
    assert!(app.mirror.explained.as_ref().unwrap().panes[0].is_ok());
}

/// Regression: File → Open did nothing at all when no XDG desktop portal runs (rfd returns at
/// once). Now camscope's own browser opens, says why, and opens what is chosen in it.
#[test]
fn without_a_system_dialog_the_own_browser_opens_the_file() {
    let dir = temp_dir();
    std::fs::copy(asset("coffee.png"), dir.path().join("cup.png")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not listed").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let picker = ScriptedPicker::default();
    picker.answers.lock().unwrap().push_back(Picked::NoDialog);
    let mut h = harness(picker.clone(), false);
    h.get_by_label("File").click();
    h.run_steps(3);
    h.get_by_label("Open image…").click();
    h.run_steps(3);
    assert_eq!(*picker.asked.lock().unwrap(), [PickKind::Image]);
    assert!(
        h.state().mirror.status.text.contains("XDG desktop portal"),
        "{}",
        h.state().mirror.status.text
    );
    // The window appears a frame later (egui sizes a new window first).
    h.run_steps(3);
    // Go to the folder, wait for its listing (made on a thread), choose the photo, open it.
    let folder = h.get_by_label("Folder");
    folder.click();
    h.run_steps(2);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("Folder")
        .type_text(&dir.path().display().to_string());
    let start = Instant::now();
    while h.query_by_label("cup.png").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the folder was never listed"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(h.query_by_label("sub/").is_some());
    assert!(
        h.query_by_label("notes.txt").is_none(),
        "only images are listed"
    );
    h.get_by_label("cup.png").click();
    h.run_steps(2);
    h.get_by_label("Open").click();
    h.run_steps(2);
    settle(&mut h);
    let app = h.state();
    assert_eq!(
        app.mirror.image.as_ref().unwrap().source,
        ImageSource::File(dir.path().join("cup.png"))
    );
    assert!(h.query_by_label("Folder").is_none(), "the browser closed");
}

/// The faithfulness section computes each pane's deletion and insertion curves on the worker
/// for the explanation on screen and shows their areas; a new class computes them again.
#[test]
fn faithfulness_curves_follow_the_explanation() {
    let mut h = harness(ScriptedPicker::default(), false);
    let toggle = h.get_by_label("Faithfulness curves (deletion / insertion)");
    toggle.scroll_to_me();
    h.run_steps(10);
    h.get_by_label("Faithfulness curves (deletion / insertion)")
        .click();
    h.step();
    assert!(
        h.state().prefs.show_metrics,
        "the checkbox turns the curves on"
    );
    let wait = |h: &mut Harness<'static, CamscopeApp>| {
        let start = Instant::now();
        loop {
            h.step();
            let m = &h.state().mirror;
            let current = m.explained.as_ref().map(|e| e.generation);
            if m.metrics.as_ref().is_some_and(|(g, _)| Some(*g) == current) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(120), "no curves");
            std::thread::sleep(Duration::from_millis(20));
        }
        h.run_steps(2);
    };
    // While they are computed: a progress bar counting forward passes, and a Stop button.
    let start = Instant::now();
    while h.state().mirror.metrics_progress.is_none() {
        assert!(start.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(5));
        h.step();
    }
    h.step();
    let bar = h.get_by_label_contains("forward passes");
    bar.scroll_to_me();
    h.run_steps(3);
    h.get_by_label("Stop").click();
    h.step();
    let start = Instant::now();
    loop {
        h.step();
        let m = &h.state().mirror;
        let current = m.explained.as_ref().map(|e| e.generation);
        if current.is_some() && m.metrics_stopped == current {
            break;
        }
        assert!(
            m.metrics.is_none(),
            "Stop stops the curves before they are done"
        );
        assert!(start.elapsed() < Duration::from_secs(60), "not stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(2);
    h.get_by_label("Compute the curves").click();
    h.step();
    wait(&mut h);
    let (g, panes) = h.state().mirror.metrics.clone().unwrap();
    assert_eq!(panes.len(), 1);
    assert_eq!(
        panes[0].deletion.scores.len(),
        camscope::app::METRIC_STEPS + 1
    );
    let shown = h.get_by_label_contains("deletion AUC");
    shown.scroll_to_me();
    // Another class: the curves are computed again for the new explanation.
    let text = {
        let app = h.state();
        let p = &app.mirror.image.as_ref().unwrap().predictions[1];
        let name = app.mirror.model.as_ref().unwrap().class_names[p.class].clone();
        format!("{name}  {:.1}%", p.probability * 100.0)
    };
    h.get_by_label(&text).scroll_to_me();
    h.run_steps(10);
    h.get_by_label(&text).click();
    h.step();
    settle(&mut h);
    assert_ne!(h.state().mirror.explained.as_ref().unwrap().generation, g);
    wait(&mut h);
    let (g2, _) = h.state().mirror.metrics.clone().unwrap();
    assert!(g2 > g);
}

/// A zoo model's many layers: the layer picker groups them by block, and its search field
/// narrows them to a few; picking one explains there.
#[test]
fn layer_picker_groups_and_searches_a_zoo_models_layers() {
    let mut h = harness(ScriptedPicker::default(), false);
    settle(&mut h);
    drop_file(&mut h, fixture("tv_efficientnet_b0/model.safetensors"));
    settle(&mut h);
    assert_eq!(
        h.state().mirror.model.as_ref().unwrap().default_layer,
        "features"
    );
    h.get_by_role_and_label(egui::Role::ComboBox, "Layer")
        .click();
    h.run_steps(2);
    // Grouped: the blocks of stage 2 sit under one closed header.
    h.get_by_label_contains("features.2 (");
    assert!(h.query_by_label_contains("features.2.1 (").is_none());
    h.get_by_role_and_label(egui::Role::TextInput, "Search layers")
        .click();
    h.run_steps(1);
    h.get_by_role_and_label(egui::Role::TextInput, "Search layers")
        .type_text("features.2.");
    h.run_steps(2);
    assert!(h.query_by_label_contains("features.5.0 (").is_none());
    h.get_by_label_contains("features.2.1 (").click();
    h.run_steps(2);
    settle(&mut h);
    let e = h.state().mirror.explained.as_ref().unwrap();
    assert_eq!(e.panes[0].as_ref().unwrap().layer, "features.2.1");
}
