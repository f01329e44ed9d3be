//! camscope: where does a convolutional network look?
//!
//! [`engine`] loads torchvision / timm ResNet and VGG (and EfficientNet-Lite) checkpoints from
//! `.safetensors` and computes CAM, Grad-CAM, Guided Backprop and Guided Grad-CAM, matching
//! PyTorch and pytorch-grad-cam. It has no UI dependency; the CLI and the desktop app sit on it.

pub mod engine;

#[cfg(feature = "gui")]
pub mod app;
