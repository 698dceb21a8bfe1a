//! Bilinear resizing of an RGB image exactly as Pillow's `Image.resize(…, BILINEAR)` does it,
//! which is what LedFx uses to shrink live-preview frames: a triangle filter whose support
//! widens with the reduction factor, fixed-point coefficients with 22 fractional bits, a
//! horizontal pass then a vertical pass, each rounded and clipped to 8 bits.

/// Fractional bits of the fixed-point coefficients (Pillow's `PRECISION_BITS`).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output position: the first input index, and the fixed-point weights from there.
struct Coefficients {
    starts: Vec<usize>,
    weights: Vec<Vec<i64>>,
}

fn coefficients(in_size: usize, out_size: usize) -> Coefficients {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale; // the triangle filter's support is 1
    let inverse = 1.0 / filter_scale;
    let mut starts = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let raw: Vec<f64> = (xmin..xmax)
            .map(|x| {
                let t = ((x as f64 - center + 0.5) * inverse).abs();
                if t < 1.0 {
                    1.0 - t
                } else {
                    0.0
                }
            })
            .collect();
        let total: f64 = raw.iter().sum();
        let fixed = raw
            .iter()
            .map(|w| {
                let w = if total != 0.0 { w / total } else { *w };
                let scaled = w * f64::from(1u32 << PRECISION_BITS);
                if scaled < 0.0 {
                    (scaled - 0.5) as i64
                } else {
                    (scaled + 0.5) as i64
                }
            })
            .collect();
        starts.push(xmin);
        weights.push(fixed);
    }
    Coefficients { starts, weights }
}

fn clip8(sum: i64) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

/// One pass along an axis: `count` lines of `in_len` pixels, pixel `i` of line `l` at
/// `l * line_stride + i * pixel_stride` (in pixels), resized to `out_len`.
fn pass(src: &[u8], lines: usize, in_len: usize, out_len: usize, along_rows: bool) -> Vec<u8> {
    let c = coefficients(in_len, out_len);
    let mut out = vec![0u8; lines * out_len * 3];
    for line in 0..lines {
        for (o, (start, weights)) in c.starts.iter().zip(&c.weights).enumerate() {
            for channel in 0..3 {
                let mut sum: i64 = 1 << (PRECISION_BITS - 1);
                for (k, w) in weights.iter().enumerate() {
                    let i = start + k;
                    let index = if along_rows {
                        line * in_len + i
                    } else {
                        i * lines + line
                    };
                    sum += i64::from(src[index * 3 + channel]) * w;
                }
                let index = if along_rows {
                    line * out_len + o
                } else {
                    o * lines + line
                };
                out[index * 3 + channel] = clip8(sum);
            }
        }
    }
    out
}

/// Resizes a row-major RGB image of `rows × cols` to `new_rows × new_cols`.
pub fn resize(
    src: &[u8],
    (rows, cols): (usize, usize),
    (new_rows, new_cols): (usize, usize),
) -> Vec<u8> {
    let mut image = src[..rows * cols * 3].to_vec();
    let mut width = cols;
    if new_cols != cols {
        image = pass(&image, rows, cols, new_cols, true);
        width = new_cols;
    }
    if new_rows != rows {
        image = pass(&image, width, rows, new_rows, false);
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_size_is_a_copy_and_a_flat_image_stays_flat() {
        let src: Vec<u8> = (0..30).collect();
        assert_eq!(resize(&src, (2, 5), (2, 5)), src);
        let grey = vec![77u8; 100 * 3];
        assert!(resize(&grey, (1, 100), (1, 81)).iter().all(|&v| v == 77));
    }
}
