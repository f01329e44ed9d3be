//! NumPy `.npy` files: little-endian float32, C order.

use std::path::Path;

use crate::engine::error::{Error, Result};

/// An n-dimensional f32 array in C order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Array {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { shape, data }
    }

    /// The `.npy` encoding (format version 1.0).
    pub fn to_npy_bytes(&self) -> Vec<u8> {
        let shape = match self.shape.as_slice() {
            [n] => format!("({n},)"),
            s => format!(
                "({})",
                s.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        // magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
        let unpadded = 10 + header.len() + 1;
        header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
        header.push('\n');
        let mut out = Vec::with_capacity(10 + header.len() + 4 * self.data.len());
        out.extend_from_slice(b"\x93NUMPY\x01\x00");
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        for v in &self.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Writes the array atomically.
    pub fn write_npy(&self, path: &Path) -> Result<()> {
        let bytes = self.to_npy_bytes();
        crate::engine::io::files::write_atomic(path, |w| w.write_all(&bytes))
    }

    pub fn read_npy(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::read(path, e))?;
        Self::from_npy_bytes(&bytes).map_err(|reason| Error::BadNpy {
            path: path.to_owned(),
            reason,
        })
    }

    pub fn from_npy_bytes(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
            return Err("missing the NumPy magic bytes".into());
        }
        let (hlen, start) = match bytes[6] {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
            2 | 3 if bytes.len() >= 12 => (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            ),
            v => return Err(format!("unsupported format version {v}")),
        };
        let header = bytes
            .get(start..start + hlen)
            .ok_or("the header is truncated")?;
        let header = std::str::from_utf8(header).map_err(|_| "the header is not text")?;
        let descr = dict_value(header, "descr").ok_or("the header has no 'descr'")?;
        let descr = descr.trim_matches(|c| c == '\'' || c == '"');
        if descr != "<f4" {
            return Err(format!(
                "dtype '{descr}' is not supported: expected little-endian float32 ('<f4')"
            ));
        }
        let fortran =
            dict_value(header, "fortran_order").ok_or("the header has no 'fortran_order'")?;
        if fortran.trim() != "False" {
            return Err("Fortran-ordered arrays are not supported: save in C order".into());
        }
        let shape = dict_value(header, "shape").ok_or("the header has no 'shape'")?;
        let shape: Vec<usize> = shape
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<usize>()
                    .map_err(|_| format!("bad shape entry {s:?}"))
            })
            .collect::<std::result::Result<_, _>>()?;
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or("the shape is too large")?;
        let body = &bytes[start + hlen..];
        let needed = n.checked_mul(4).ok_or("the shape is too large")?;
        if body.len() != needed {
            return Err(format!(
                "shape {shape:?} needs {} bytes of data, the file has {}",
                needed,
                body.len()
            ));
        }
        let data = body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Self { shape, data })
    }
}

/// The text of `key`'s value in a Python dict literal (values here hold no nested braces
/// other than the shape tuple).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[at + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let a = Array::new(vec![2, 3], vec![1., 2., 3., 4., 5., 6.]);
        let b = Array::from_npy_bytes(&a.to_npy_bytes()).unwrap();
        assert_eq!(a, b);
        let header_end = a.to_npy_bytes().iter().position(|&c| c == b'\n').unwrap() + 1;
        assert_eq!(header_end % 64, 0, "the data starts 64-byte aligned");
    }

    #[test]
    fn rejects_float64_and_truncation() {
        let mut bytes = Array::new(vec![2], vec![1., 2.]).to_npy_bytes();
        bytes.pop();
        assert!(
            Array::from_npy_bytes(&bytes)
                .unwrap_err()
                .contains("needs 8 bytes")
        );
        let mut f8 = Array::new(vec![1], vec![0.]).to_npy_bytes();
        let at = f8.windows(3).position(|w| w == b"<f4").unwrap();
        f8[at + 2] = b'8';
        assert!(Array::from_npy_bytes(&f8).unwrap_err().contains("'<f8'"));
    }
}
