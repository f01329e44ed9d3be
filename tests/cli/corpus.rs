//! The hostile-input corpus: bad and odd files of every kind the CLI reads or writes, each run
//! through the binary with the message fragment it must print (or, for files that are odd but
//! fine, the warning or success it must give), none panicking. Large inputs are generated here
//! at test time (never committed) and the child's peak memory (wait4's ru_maxrss) is checked
//! against docs/fuzzing.md's bounds: ≤ 1 GiB for any image, with or without an export.

use std::path::{Path, PathBuf};

use crate::common::*;

/// What a case must do.
enum Want {
    /// Exit non-zero with `camscope: error: …` containing this.
    Error(&'static str),
    /// Exit 0 with a `camscope: warning: …` containing this.
    Warning(&'static str),
    /// Exit 0.
    Ok,
}

struct Case {
    name: &'static str,
    args: Vec<String>,
    want: Want,
    /// Peak resident memory allowed, in MiB.
    max_mib: u64,
}

/// Runs the binary and waits with wait4: (exit code, stdout, stderr, peak RSS in MiB).
#[allow(clippy::zombie_processes)] // reaped by wait4, which std's Child does not know about
fn run_measured(args: &[String]) -> (Option<i32>, String, String, u64) {
    use std::io::Read as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_camscope"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let t = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).ok();
        s
    });
    let mut stderr = String::new();
    err.read_to_string(&mut stderr).ok();
    let stdout = t.join().unwrap();
    let mut status = 0;
    // SAFETY: plain libc call on our own child's pid with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, stdout, stderr, usage.ru_maxrss as u64 / 1024)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A PNG header (signature + IHDR) claiming `w × h` 8-bit RGB, and nothing else.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend(13u32.to_be_bytes());
    v.extend(&ihdr);
    v.extend(crc32(&ihdr).to_be_bytes());
    // The start of an IDAT chunk, so that the decoder gets as far as the size check.
    let idat = b"IDAT\x78\x9c".to_vec();
    v.extend(2u32.to_be_bytes());
    v.extend(&idat);
    v.extend(crc32(&idat).to_be_bytes());
    v
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A `.safetensors` file from (name, dtype, shape, data bytes).
fn safetensors(tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data: Vec<u8> = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        header.insert(
            (*name).to_owned(),
            serde_json::json!({"dtype": dtype, "shape": shape,
                               "data_offsets": [data.len(), data.len() + bytes.len()]}),
        );
        data.extend(bytes);
    }
    let mut h = serde_json::to_vec(&header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut v = (h.len() as u64).to_le_bytes().to_vec();
    v.extend(h);
    v.extend(data);
    v
}

/// A `.npy` file with this header dict and `data_len` zero bytes of data.
fn npy_file(dict: &str, data_len: usize) -> Vec<u8> {
    let mut h = dict.to_owned();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend((h.len() as u16).to_le_bytes());
    v.extend(h.as_bytes());
    v.extend(vec![0u8; data_len]);
    v
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn cases(dir: &Path) -> Vec<Case> {
    let img = s(&asset("coffee.png"));
    let resnet = s(&fixture("resnet_basic/model.safetensors"));
    let x = s(&fixture("resnet_basic/input.npy"));
    let explain = |extra: &[&str]| -> Vec<String> {
        ["explain"]
            .iter()
            .chain(extra)
            .map(|a| a.to_string())
            .collect()
    };
    let model_case = |name: &'static str, file: &str, bytes: Vec<u8>, want: Want| Case {
        name,
        args: explain(&["--model", &s(&write(dir, file, &bytes)), "--input-npy", &x]),
        want,
        max_mib: 400,
    };
    let image_case = |name: &'static str, file: &str, bytes: Vec<u8>, want: Want| Case {
        name,
        args: explain(&["--image", &s(&write(dir, file, &bytes))]),
        want,
        max_mib: 400,
    };
    let npy_case = |name: &'static str, bytes: Vec<u8>, want: Want| Case {
        name,
        args: explain(&[
            "--model",
            &resnet,
            "--input-npy",
            &s(&write(dir, name, &bytes)),
        ]),
        want,
        max_mib: 400,
    };
    let fixture_tensors = || {
        candle_core::safetensors::load(
            fixture("resnet_basic/model.safetensors"),
            &candle_core::Device::Cpu,
        )
        .unwrap()
    };
    let save = |name: &str, t: &std::collections::HashMap<String, candle_core::Tensor>| {
        let p = dir.join(name);
        candle_core::safetensors::save(t, &p).unwrap();
        std::fs::read(&p).unwrap()
    };
    let f32s = |n: usize| vec![0u8; 4 * n];

    let mut v = vec![
        // — checkpoints —
        model_case(
            "empty safetensors",
            "empty.safetensors",
            Vec::new(),
            Want::Error("empty.safetensors"),
        ),
        model_case(
            "header length past the end",
            "lies.safetensors",
            {
                let mut b = (1u64 << 40).to_le_bytes().to_vec();
                b.extend(b"{}");
                b
            },
            Want::Error("lies.safetensors"),
        ),
        model_case(
            "header not JSON",
            "notjson.safetensors",
            {
                let mut b = 8u64.to_le_bytes().to_vec();
                b.extend(b"{{{{{{{{");
                b
            },
            Want::Error("notjson.safetensors"),
        ),
        model_case(
            "tensor data past the end",
            "short.safetensors",
            safetensors(&[("conv1.weight", "F32", vec![8, 3, 7, 7], f32s(10))]),
            Want::Error("short.safetensors"),
        ),
        model_case(
            "unknown layout",
            "mystery.safetensors",
            safetensors(&[("mystery.weight", "F32", vec![4], f32s(4))]),
            Want::Error("unknown model layout"),
        ),
        model_case(
            "integer conv weight",
            "int.safetensors",
            {
                let mut t = fixture_tensors();
                let w = t["conv1.weight"].to_dtype(candle_core::DType::U8).unwrap();
                t.insert("conv1.weight".into(), w);
                save("int-src.safetensors", &t)
            },
            Want::Error("conv1.weight"),
        ),
        model_case(
            "missing tensor",
            "missing.safetensors",
            {
                let mut t = fixture_tensors();
                t.remove("layer2.0.bn1.running_var");
                save("missing-src.safetensors", &t)
            },
            Want::Error("missing tensor layer2.0.bn1.running_var"),
        ),
        model_case(
            "wrong shape",
            "shape.safetensors",
            {
                let mut t = fixture_tensors();
                t.insert(
                    "fc.weight".into(),
                    candle_core::Tensor::zeros(
                        (10, 7),
                        candle_core::DType::F32,
                        &candle_core::Device::Cpu,
                    )
                    .unwrap(),
                );
                save("shape-src.safetensors", &t)
            },
            Want::Error("fc.weight: expected"),
        ),
        model_case(
            "parts not modelled (ECA)",
            "eca.safetensors",
            {
                let mut t = fixture_tensors();
                t.insert(
                    "layer1.0.se.conv.weight".into(),
                    candle_core::Tensor::zeros(
                        (1, 1, 3),
                        candle_core::DType::F32,
                        &candle_core::Device::Cpu,
                    )
                    .unwrap(),
                );
                save("eca-src.safetensors", &t)
            },
            Want::Error("not part of that network"),
        ),
        model_case(
            "head without classes",
            "noclass.safetensors",
            {
                let mut t = fixture_tensors();
                t.insert(
                    "fc.weight".into(),
                    candle_core::Tensor::zeros(
                        (0, 32),
                        candle_core::DType::F32,
                        &candle_core::Device::Cpu,
                    )
                    .unwrap(),
                );
                t.insert(
                    "fc.bias".into(),
                    candle_core::Tensor::zeros(
                        0,
                        candle_core::DType::F32,
                        &candle_core::Device::Cpu,
                    )
                    .unwrap(),
                );
                save("noclass-src.safetensors", &t)
            },
            Want::Error("no classes"),
        ),
        model_case(
            "NaN weights",
            "nan.safetensors",
            {
                let mut t = fixture_tensors();
                let w = (t["fc.bias"].clone() * f64::NAN).unwrap();
                t.insert("fc.bias".into(), w);
                save("nan-src.safetensors", &t)
            },
            Want::Warning("NaN or infinite"),
        ),
        Case {
            name: "a folder as the model",
            args: explain(&["--model", &s(dir), "--input-npy", &x]),
            want: Want::Error("cannot read"),
            max_mib: 400,
        },
        Case {
            name: "missing model",
            args: explain(&[
                "--model",
                &s(&dir.join("gone.safetensors")),
                "--input-npy",
                &x,
            ]),
            want: Want::Error("gone.safetensors"),
            max_mib: 400,
        },
        // — .npy inputs —
        npy_case(
            "truncated.npy",
            npy_file(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 112, 112), }",
                100,
            ),
            Want::Error("truncated.npy"),
        ),
        npy_case(
            "overflow.npy",
            npy_file(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }",
                0,
            ),
            Want::Error("overflow.npy"),
        ),
        npy_case(
            "int32.npy",
            npy_file(
                "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 3, 4, 4), }",
                192,
            ),
            Want::Error("int32.npy"),
        ),
        npy_case(
            "wrongshape.npy",
            npy_file(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                24,
            ),
            Want::Error("expected shape"),
        ),
        npy_case(
            "text.npy",
            b"just some text".to_vec(),
            Want::Error("text.npy"),
        ),
        npy_case(
            "nan.npy",
            {
                let mut b = npy_file(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 64, 64), }",
                    0,
                );
                for _ in 0..3 * 64 * 64 {
                    b.extend(f32::NAN.to_le_bytes());
                }
                b
            },
            Want::Warning("NaN or infinite"),
        ),
        // — images —
        image_case(
            "corrupt PNG",
            "corrupt.png",
            {
                let mut b = png_header(64, 64);
                b.extend((0..500u32).map(|i| (i * 37 % 251) as u8));
                b
            },
            Want::Error("corrupt.png"),
        ),
        image_case(
            "text named .png",
            "notes.png",
            b"hello".to_vec(),
            Want::Error("notes.png: cannot decode"),
        ),
        image_case(
            "empty JPEG",
            "empty.jpg",
            Vec::new(),
            Want::Error("empty.jpg"),
        ),
        image_case(
            "oversized header",
            "huge.png",
            png_header(20_000, 20_000),
            Want::Error("120 megapixels"),
        ),
        image_case(
            "side over the limit",
            "wide.png",
            png_header(40_000, 10),
            Want::Error("wide.png"),
        ),
        Case {
            name: "a folder as the image",
            args: explain(&["--image", &s(dir)]),
            want: Want::Error("cannot read"),
            max_mib: 400,
        },
        // — labels, datasets —
        Case {
            name: "labels of another head",
            args: explain(&[
                "--image",
                &img,
                "--labels",
                &s(&write(dir, "labels.txt", b"a\nb\n")),
            ]),
            want: Want::Error("has 2 names"),
            max_mib: 400,
        },
        // — arguments, outputs —
        Case {
            name: "class out of range",
            args: explain(&["--image", &img, "--class", "5000"]),
            want: Want::Error("5000"),
            max_mib: 400,
        },
        Case {
            name: "negative class",
            args: explain(&["--image", &img, "--class", "-1"]),
            want: Want::Error("-1"),
            max_mib: 400,
        },
        Case {
            name: "unknown layer",
            args: explain(&["--image", &img, "--layer", "layer99"]),
            want: Want::Error("layer99"),
            max_mib: 400,
        },
        Case {
            name: "threshold out of range",
            args: explain(&["--image", &img, "--threshold", "2"]),
            want: Want::Error("--threshold must be in [0, 1]"),
            max_mib: 400,
        },
        Case {
            name: "output in a missing folder",
            args: explain(&[
                "--image",
                &img,
                "--out",
                &s(&dir.join("no/such/dir/out.png")),
            ]),
            want: Want::Error("cannot write"),
            max_mib: 400,
        },
        Case {
            name: "output under a file",
            args: explain(&["--image", &img, "--out", &s(&dir.join("notes.png/out.png"))]),
            want: Want::Error("cannot write"),
            max_mib: 400,
        },
        Case {
            name: "output over the input",
            args: explain(&["--image", &img, "--out", &img]),
            want: Want::Error("--image"),
            max_mib: 400,
        },
        Case {
            name: "map over the input npy",
            args: explain(&["--model", &resnet, "--input-npy", &x, "--save-map", &x]),
            want: Want::Error("--input-npy"),
            max_mib: 400,
        },
    ];
    // Odd but fine images.
    let small = image::open(asset("coffee.png")).unwrap().to_rgb8();
    let small = image::imageops::resize(&small, 80, 60, image::imageops::FilterType::Triangle);
    let p16 = dir.join("deep.png");
    image::DynamicImage::ImageRgb8(small.clone())
        .to_rgba16()
        .save(&p16)
        .unwrap();
    let grey = dir.join("grey.png");
    image::DynamicImage::ImageRgb8(small.clone())
        .to_luma8()
        .save(&grey)
        .unwrap();
    let jpg = dir.join("full.jpg");
    small.save(&jpg).unwrap();
    let bytes = std::fs::read(&jpg).unwrap();
    let cut = write(dir, "cut.jpg", &bytes[..bytes.len() * 2 / 3]);
    let thin = dir.join("thin.png");
    image::RgbImage::from_pixel(1, 30_000, image::Rgb([200, 30, 30]))
        .save(&thin)
        .unwrap();
    // 110 MP: decodes just under the pixel limit, exports over the export limit.
    let big = dir.join("big.png");
    image::GrayImage::from_pixel(11_000, 10_000, image::Luma([140]))
        .save(&big)
        .unwrap();
    let csv_dir = dir.join("dataset");
    std::fs::create_dir_all(&csv_dir).unwrap();
    std::fs::copy(asset("coffee.png"), csv_dir.join("cup.png")).unwrap();
    let dataset = |name: &'static str, rows: &str, want: Want| -> Case {
        let d = dir.join(format!("ds-{}", name.replace(' ', "-")));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(asset("coffee.png"), d.join("cup.png")).unwrap();
        std::fs::write(
            d.join("boxes.csv"),
            format!("file,class,x0,y0,x1,y1\n{rows}"),
        )
        .unwrap();
        Case {
            name,
            args: vec!["eval-loc".into(), "--dataset".into(), s(&d)],
            want,
            max_mib: 400,
        }
    };
    v.extend([
        Case { name: "16-bit RGBA", args: explain(&["--image", &s(&p16)]), want: Want::Ok, max_mib: 400 },
        Case { name: "grey", args: explain(&["--image", &s(&grey)]), want: Want::Ok, max_mib: 400 },
        Case { name: "EXIF-rotated JPEG", args: explain(&["--image", &s(&fixture("exif_rotated.jpg"))]), want: Want::Ok, max_mib: 400 },
        Case { name: "truncated JPEG", args: explain(&["--image", &s(&cut)]), want: Want::Warning("ends early"), max_mib: 400 },
        Case { name: "1 × 30000 photo", args: explain(&["--image", &s(&thin), "--out", &s(&dir.join("thin.out.png"))]), want: Want::Ok, max_mib: 400 },
        Case { name: "110 MP photo exported", args: explain(&["--image", &s(&big), "--out", &s(&dir.join("big.out.png"))]), want: Want::Warning("exported at"), max_mib: 1024 },
        Case {
            name: "1.5 GB checkpoint of unknown layout",
            args: vec!["layers".into(), "--model".into(), s(&{
                let p = dir.join("huge.safetensors");
                let n: usize = 750_000_000;
                // The data is 2n bytes, sparse on disk.
                let h = format!("{{\"mystery.weight\":{{\"dtype\":\"F16\",\"shape\":[{n}],\"data_offsets\":[0,{}]}}}}", 2 * n);
                let mut hb = h.into_bytes();
                while !hb.len().is_multiple_of(8) { hb.push(b' '); }
                let mut head = (hb.len() as u64).to_le_bytes().to_vec();
                head.extend(hb);
                let f = std::fs::File::create(&p).unwrap();
                use std::io::Write as _;
                (&f).write_all(&head).unwrap();
                f.set_len((head.len() + 2 * n) as u64).unwrap();
                p
            })],
            want: Want::Error("unknown model layout"),
            // Converting it would take 3 GiB; reading the header takes nothing (the bound
            // leaves room for ru_maxrss counting this test process's pages at the spawn).
            max_mib: 300,
        },
        dataset("inverted box", "cup.png,967,300,20,100,200\n", Want::Error("boxes.csv:2:")),
        dataset("NaN coordinate", "cup.png,967,NaN,20,100,200\n", Want::Error("not finite")),
        dataset("bad class", "cup.png,cat,1,2,3,4\n", Want::Error("class is not a number")),
        dataset("no rows", "", Want::Error("no rows")),
        dataset("too few fields", "cup.png,1,2\n", Want::Error("expected 6 fields")),
    ]);
    v
}

#[test]
fn hostile_input_corpus() {
    let dir = temp_dir();
    let cases = cases(dir.path());
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let (code, _stdout, stderr, peak) = run_measured(&c.args);
        let problem = if stderr.contains("panicked") {
            Some("panicked".to_owned())
        } else if peak > c.max_mib {
            Some(format!("peak memory {peak} MiB > {} MiB", c.max_mib))
        } else {
            match &c.want {
                Want::Error(f) if code == Some(0) => {
                    Some(format!("exit 0, wanted an error with {f:?}"))
                }
                Want::Error(f)
                    if !(stderr.starts_with("camscope: error: ")
                        || stderr.starts_with("error: "))
                        || !stderr.contains(f) =>
                {
                    Some(format!("wanted {f:?}"))
                }
                Want::Warning(f)
                    if code != Some(0)
                        || !stderr.contains("camscope: warning: ")
                        || !stderr.contains(f) =>
                {
                    Some(format!("wanted exit 0 and a warning with {f:?}"))
                }
                Want::Ok if code != Some(0) => Some("wanted exit 0".to_owned()),
                _ => None,
            }
        };
        eprintln!("{:40} exit {code:?}, peak {peak} MiB", c.name);
        if let Some(p) = problem {
            failures.push(format!(
                "{}: {p} (exit {code:?}, {peak} MiB)\n  {}",
                c.name,
                stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
