//! What comes in and goes out: photos and arrays become model inputs (`input`, `preprocess`,
//! `npy`), class names are read (`labels`), and files are written whole or not at all (`files`).

pub mod files;
pub mod input;
pub mod labels;
pub mod npy;
pub mod preprocess;
