//! RegNet-X and RegNet-Y (Radosavovic et al. 2020), torchvision's and timm's layouts, every
//! size.
//!
//! `stem` (3×3 stride-2 convolution, BatchNorm, ReLU), then stages of bottlenecks: `a` (1×1) →
//! `b` (3×3 grouped, the stage's stride on its first block) → `se` (RegNet-Y: squeeze-and-
//! excitation, ReLU + sigmoid) → `c` (1×1, no activation), plus a 1×1 strided projection where
//! the shape changes, ReLU after the sum. Global average pool, linear. Group counts come from
//! the kernels' shapes; every stage's first block has stride 2. Every ReLU is an `nn.ReLU`
//! module in both libraries (guided in guided backprop).
//!
//! | | torchvision | timm (`regnetx_*`, `regnety_*`) |
//! |---|---|---|
//! | stage / block | `trunk_output.block{s}.block{s}-{j}` | `s{s}.b{j+1}` |
//! | a, b, c, se | `f.a.0/1`, `f.b`, `f.c`, `f.se.fc1/fc2` | `conv1.conv/bn`, `conv2`, `conv3`, `se.fc1/fc2` |
//! | projection | `proj.0/1` | `downsample.conv/bn` |
//! | default layer, head | `trunk_output`; `avgpool`, `fc` | `s4` (the last stage); `head.global_pool`, `head.fc` |

use super::blocks::{Groups, conv_bn_at, conv_norm, gap_linear_head, linear, squeeze_excite};
use super::{Architecture, Built, Node, Vb, Weights};
use crate::engine::error::Result;
use crate::engine::io::preprocess::{Interpolation, Preprocess};
use crate::engine::ops::{Act, Conv2d, Op};

const EPS: f64 = 1e-5;

pub const ARCHITECTURE: Architecture = Architecture {
    name: "RegNet (torchvision)",
    keys: "stem.0.weight, trunk_output.block1.block1-0.f.a.0.weight, fc.weight",
    detect,
    build,
};

pub const TIMM: Architecture = Architecture {
    name: "RegNet (timm)",
    keys: "stem.conv.weight, s1.b1.conv1.conv.weight, head.fc.weight",
    detect: |w| w.contains("s1.b1.conv1.conv.weight") && w.contains("stem.conv.weight"),
    build: build_timm,
};

fn detect(w: &Weights) -> bool {
    w.contains("trunk_output.block1.block1-0.f.a.0.weight")
}

/// Where one library keeps a RegNet's parts.
struct Layout {
    /// The stage `s` (from 1) and its block `j` (from 0).
    stage: fn(usize) -> String,
    block: fn(usize, usize) -> String,
    /// A bottleneck's parts a, b, c, its SE and its projection, relative to the block.
    parts: [&'static str; 5],
    /// The convolution and its BatchNorm inside a part.
    conv_bn: fn(&Vb, usize, usize, Groups) -> Result<Conv2d>,
    /// The default layer's name (`None`: the last stage's), the pool's and the linear layer's.
    trunk: Option<&'static str>,
    head: [&'static str; 2],
}

const TORCHVISION: Layout = Layout {
    stage: |s| format!("trunk_output.block{s}"),
    block: |s, j| format!("block{s}-{j}"),
    parts: ["f.a", "f.b", "f.c", "f.se", "proj"],
    conv_bn: |vb, cin, stride, groups| conv_norm(vb, cin, stride, groups, EPS),
    trunk: Some("trunk_output"),
    head: ["avgpool", "fc"],
};

const TIMM_LAYOUT: Layout = Layout {
    stage: |s| format!("s{s}"),
    block: |_, j| format!("b{}", j + 1),
    parts: ["conv1", "conv2", "conv3", "se", "downsample"],
    conv_bn: |vb, cin, stride, groups| conv_bn_at(vb, "conv", "bn", cin, stride, groups),
    trunk: None,
    head: ["head.global_pool", "head.fc"],
};

fn build(vb: &Vb) -> Result<Built> {
    build_with(vb, &TORCHVISION, Preprocess::imagenet())
}

/// timm's files without a `config.json` get timm's usual eval transform for RegNets (224,
/// crop 0.875, bicubic); the Hub's `config.json` gives each its own.
fn build_timm(vb: &Vb) -> Result<Built> {
    let pre = Preprocess::torchvision(256, 224, Interpolation::Bicubic);
    build_with(vb, &TIMM_LAYOUT, pre)
}

fn build_with(vb: &Vb, l: &Layout, preprocess: Preprocess) -> Result<Built> {
    let stem = (l.conv_bn)(&vb.pp("stem"), 3, 2, Groups::One)?;
    let mut c = stem.out_channels();
    let mut nodes = vec![Node::new("stem", vec![Op::Conv(stem), Op::Relu])];
    let mut aliases = Vec::new();
    let mut depths = Vec::new();
    let mut widths = Vec::new();
    let mut se = false;
    let probe = format!(
        "{}.{}",
        l.parts[0],
        if l.trunk.is_some() {
            "0.weight"
        } else {
            "conv.weight"
        }
    );
    for s in 1.. {
        let stage = vb.pp((l.stage)(s));
        let n = (0..)
            .take_while(|&j| stage.pp((l.block)(s, j)).contains(&probe))
            .count();
        if n == 0 {
            break;
        }
        for j in 0..n {
            let b = stage.pp((l.block)(s, j));
            se |= b.pp(l.parts[3]).contains("fc1.weight");
            let (op, cout) = bottleneck(&b, c, if j == 0 { 2 } else { 1 }, l)?;
            nodes.push(Node::new(b.prefix(), vec![op]));
            c = cout;
        }
        aliases.push((stage.prefix().to_owned(), nodes.len() - 1));
        depths.push(n);
        widths.push(c);
    }
    if depths.is_empty() {
        return Err(vb.layout_error(format!("no {}.{}", (l.stage)(1), (l.block)(1, 0))));
    }
    let default_layer = nodes.len() - 1;
    if let Some(trunk) = l.trunk {
        // First, so that it is the default layer's display name.
        aliases.insert(0, (trunk.into(), default_layer));
    } else {
        // The last stage's name first, for the same reason.
        let last = aliases.pop().expect("a stage");
        aliases.insert(0, last);
    }
    let (fc, num_classes) = linear(&vb.pp(l.head[1]), c)?;
    let cam = gap_linear_head(&mut nodes, fc, l.head[0], l.head[1]);
    let join = |v: &[usize]| {
        v.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("-")
    };
    Ok(Built {
        architecture: format!(
            "regnet_{} (depths {}, widths {})",
            if se { "y" } else { "x" },
            join(&depths),
            join(&widths)
        ),
        nodes,
        aliases,
        default_layer,
        cam: Ok(cam),
        num_classes,
        preprocess,
    })
}

/// A bottleneck block at `vb` over `cin` channels: the op and its output channels.
fn bottleneck(vb: &Vb, cin: usize, stride: usize, l: &Layout) -> Result<(Op, usize)> {
    let [pa, pb, pc, pse, pproj] = l.parts;
    let a = (l.conv_bn)(&vb.pp(pa), cin, 1, Groups::One)?;
    let w = a.out_channels();
    let b = (l.conv_bn)(&vb.pp(pb), w, stride, Groups::Infer)?;
    let mut main = vec![Op::Conv(a), Op::Relu, Op::Conv(b), Op::Relu];
    if vb.pp(pse).contains("fc1.weight") {
        main.push(squeeze_excite(
            &vb.pp(pse),
            w,
            ["fc1", "fc2"],
            Act::Relu,
            Act::Sigmoid,
        )?);
    }
    let cc = (l.conv_bn)(&vb.pp(pc), w, 1, Groups::One)?;
    let cout = cc.out_channels();
    main.push(Op::Conv(cc));
    let proj = vb.pp(pproj);
    let shortcut = if proj.contains("0.weight") || proj.contains("conv.weight") {
        vec![Op::Conv((l.conv_bn)(&proj, cin, stride, Groups::One)?)]
    } else {
        Vec::new()
    };
    Ok((
        Op::Residual {
            main,
            shortcut,
            post_relu: true,
        },
        cout,
    ))
}
